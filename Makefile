# pam_smsotp: build, install from source, and build the Debian and RPM packages.
#
#   make                      cargo build --release
#   make install              as root: install under PREFIX (default /usr)
#   make install DESTDIR=/tmp/stage    into a staging tree (as any user)
#   make uninstall            remove what install put there (not the state, nor a changed config)
#   make dist                 target/dist/pam_smsotp-VERSION.tar.gz (git archive of HEAD) and
#                             target/dist/pam_smsotp-VERSION-vendor.tar.gz (cargo vendor; scripts/dist.sh)
#   make deb                  dpkg-buildpackage -us -uc -b (debian/; needs vendor/ from make dist)
#   make rpm                  rpmbuild -ba on the dist tarballs (packaging/rpm/pam_smsotp.spec)
#   make selinux              packaging/selinux/pam_smsotp.pp (the reference policy's devel Makefile)
#   make check-man            render the man pages with warnings as errors
#   make generated            after a Cargo.lock change: debian/copyright and the spec's
#                             License and bundled(crate(...)) lines (tests/source_packages.rs checks them)
#
# PAM looks for modules only in its own directory (the multiarch
# /usr/lib/<triplet>/security on Debian and Ubuntu, /usr/lib64/security on
# Fedora and RHEL): with another PREFIX, name the module by its full path in
# /etc/pam.d, or set SECURITYDIR. The module always reads
# /etc/security/pam_smsotp.toml unless given config=PATH, so SYSCONFDIR does
# not follow PREFIX.

PREFIX ?= /usr
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
ifneq ($(MULTIARCH),)
LIBDIR ?= $(PREFIX)/lib/$(MULTIARCH)
else ifneq ($(wildcard /usr/lib64/security),)
LIBDIR ?= $(PREFIX)/lib64
else
LIBDIR ?= $(PREFIX)/lib
endif
SECURITYDIR ?= $(LIBDIR)/security
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/pam-smsotp
EXAMPLESDIR ?= $(DOCDIR)/examples
PAMCONFIGSDIR ?= $(DATADIR)/pam-configs
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
STATEDIR ?= $(LOCALSTATEDIR)/lib/pam_smsotp
# "no" leaves the state directory out (the Debian package creates it in postinst).
INSTALL_STATEDIR ?= yes

CARGO ?= cargo
RELEASE ?= target/release
INSTALL ?= install
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

MODULE := $(RELEASE)/libpam_smsotp.so
BINARY := $(RELEASE)/smsotp
DLRD := $(RELEASE)/smsotp-dlrd
MAN5 := packaging/man/pam_smsotp.toml.5
MAN8 := packaging/man/pam_smsotp.8 packaging/man/smsotp.8 packaging/man/smsotp-dlrd.8
EXAMPLES_PAMD := $(wildcard conf/pam.d/*)
EXAMPLES_SSHD := $(wildcard conf/sshd_config.d/*)

.PHONY: all build install uninstall dist deb rpm selinux generated check-man

all: build

build:
	$(CARGO) build --release

install:
	@for f in $(MODULE) $(BINARY) $(DLRD); do \
	  [ -f "$$f" ] || { echo "$$f is missing: run 'make' (cargo build --release) first" >&2; exit 1; }; \
	done
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SECURITYDIR) $(DESTDIR)$(SBINDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/security $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(PAMCONFIGSDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(EXAMPLESDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	$(INSTALL) -m 0644 $(MODULE) $(DESTDIR)$(SECURITYDIR)/pam_smsotp.so
	$(INSTALL) -m 0755 $(BINARY) $(DESTDIR)$(SBINDIR)/smsotp
	$(INSTALL) -m 0755 $(DLRD) $(DESTDIR)$(SBINDIR)/smsotp-dlrd
	$(INSTALL) -m 0644 packaging/systemd/smsotp-dlrd.service $(DESTDIR)$(SYSTEMDUNITDIR)/smsotp-dlrd.service
	$(INSTALL) -m 0644 packaging/sysusers.d/smsotp-dlrd.conf $(DESTDIR)$(SYSUSERSDIR)/smsotp-dlrd.conf
	$(INSTALL) -m 0644 packaging/tmpfiles.d/smsotp-dlrd.conf $(DESTDIR)$(TMPFILESDIR)/smsotp-dlrd.conf
	@# the configuration and the phone map are the administrator's once installed
	@for pair in conf/pam_smsotp.toml:pam_smsotp.toml packaging/pam_smsotp.phones:pam_smsotp.phones; do \
	  src=$${pair%%:*}; dst=$(DESTDIR)$(SYSCONFDIR)/security/$${pair#*:}; \
	  if [ -e "$$dst" ]; then echo "keeping the existing $$dst"; \
	  else echo "$(INSTALL) -m 0600 $$src $$dst"; $(INSTALL) -m 0600 "$$src" "$$dst" || exit 1; fi; \
	done
	$(INSTALL) -m 0644 packaging/tmpfiles.d/pam_smsotp.conf $(DESTDIR)$(TMPFILESDIR)/pam_smsotp.conf
	grep -v '^#' packaging/pam-configs/smsotp > $(DESTDIR)$(PAMCONFIGSDIR)/smsotp
	chmod 0644 $(DESTDIR)$(PAMCONFIGSDIR)/smsotp
	@for page in $(MAN5) $(MAN8); do \
	  name=$$(basename $$page); section=$${name##*.}; \
	  out=$(DESTDIR)$(MANDIR)/man$$section/$$name.gz; \
	  echo "$$page -> $$out"; \
	  sed 's/@VERSION@/$(VERSION)/g' $$page | gzip -9n > $$out && chmod 0644 $$out || exit 1; \
	done
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 packaging/copyright $(DESTDIR)$(DOCDIR)/copyright
	$(INSTALL) -m 0644 conf/pam_smsotp.toml conf/pam_smsotp.phones $(DESTDIR)$(EXAMPLESDIR)/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(EXAMPLESDIR)/fail2ban/filter.d $(DESTDIR)$(EXAMPLESDIR)/fail2ban/jail.d
	$(INSTALL) -m 0644 packaging/fail2ban/filter.d/pam_smsotp.conf $(DESTDIR)$(EXAMPLESDIR)/fail2ban/filter.d/
	$(INSTALL) -m 0644 packaging/fail2ban/jail.d/pam_smsotp.conf $(DESTDIR)$(EXAMPLESDIR)/fail2ban/jail.d/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(EXAMPLESDIR)/messages
	$(INSTALL) -m 0644 conf/messages/de.toml conf/messages/fr.toml conf/messages/es.toml $(DESTDIR)$(EXAMPLESDIR)/messages/
ifneq ($(EXAMPLES_PAMD),)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(EXAMPLESDIR)/pam.d
	$(INSTALL) -m 0644 $(EXAMPLES_PAMD) $(DESTDIR)$(EXAMPLESDIR)/pam.d/
endif
ifneq ($(EXAMPLES_SSHD),)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(EXAMPLESDIR)/sshd_config.d
	$(INSTALL) -m 0644 $(EXAMPLES_SSHD) $(DESTDIR)$(EXAMPLESDIR)/sshd_config.d/
endif
ifeq ($(INSTALL_STATEDIR),yes)
	$(INSTALL) -d -m 0700 $(DESTDIR)$(STATEDIR)
endif
	@echo "installed; the module is not in any PAM stack yet: see pam_smsotp(8)"

uninstall:
	@if [ -f $(DESTDIR)$(PAMCONFIGSDIR)/smsotp ] && [ -z "$(DESTDIR)" ] && command -v pam-auth-update >/dev/null; then \
	  echo "pam-auth-update --remove smsotp"; pam-auth-update --remove smsotp; fi
	rm -f $(DESTDIR)$(SECURITYDIR)/pam_smsotp.so $(DESTDIR)$(SBINDIR)/smsotp \
	  $(DESTDIR)$(TMPFILESDIR)/pam_smsotp.conf $(DESTDIR)$(PAMCONFIGSDIR)/smsotp \
	  $(DESTDIR)$(MANDIR)/man5/pam_smsotp.toml.5.gz \
	  $(DESTDIR)$(MANDIR)/man8/pam_smsotp.8.gz $(DESTDIR)$(MANDIR)/man8/smsotp.8.gz \
	  $(DESTDIR)$(SBINDIR)/smsotp-dlrd $(DESTDIR)$(MANDIR)/man8/smsotp-dlrd.8.gz \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/smsotp-dlrd.service $(DESTDIR)$(SYSUSERSDIR)/smsotp-dlrd.conf \
	  $(DESTDIR)$(TMPFILESDIR)/smsotp-dlrd.conf
	rm -rf $(DESTDIR)$(DOCDIR)
	@# a configuration or phone map that was changed stays, as does the state
	@for pair in conf/pam_smsotp.toml:pam_smsotp.toml packaging/pam_smsotp.phones:pam_smsotp.phones; do \
	  src=$${pair%%:*}; dst=$(DESTDIR)$(SYSCONFDIR)/security/$${pair#*:}; \
	  if [ -e "$$dst" ]; then \
	    if cmp -s "$$src" "$$dst"; then echo "rm -f $$dst"; rm -f "$$dst"; \
	    else echo "keeping the changed $$dst"; fi; \
	  fi; \
	done
	@[ ! -d $(DESTDIR)$(STATEDIR) ] || echo "keeping the state in $(DESTDIR)$(STATEDIR) (remove it by hand)"

dist:
	scripts/dist.sh

deb:
	@[ -d vendor ] || { echo "no vendor/: run 'make dist' and unpack target/dist/pam_smsotp-$(VERSION)-vendor.tar.gz here" >&2; exit 1; }
	dpkg-buildpackage -us -uc -b

rpm:
	packaging/rpm/build.sh

generated:
	packaging/debian-copyright.py > debian/copyright.new && mv debian/copyright.new debian/copyright
	packaging/rpm/update-spec.sh

selinux:
	$(MAKE) -C packaging/selinux -f /usr/share/selinux/devel/Makefile pam_smsotp.pp

check-man:
	@for page in $(MAN5) $(MAN8); do \
	  echo "man --warnings -l $$page"; \
	  out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$page 2>&1 >/dev/null); \
	  [ -z "$$out" ] || { echo "$$out"; exit 1; }; \
	done
