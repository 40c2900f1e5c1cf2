/* A test name service, as sssd or winbind can be configured: getpwnam() folds
 * case and drops an "@REALM" suffix, and answers with the account's own
 * spelling of its name. Built by tests/identity.rs with -DPASSWD_FILE=...;
 * loaded only in that test's private mount namespace (nsswitch.conf
 * "passwd: files casefold"), never by the machine. */
#include <ctype.h>
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PASSWD_FILE
#error "build with -DPASSWD_FILE=\"...\""
#endif

static char *put(char **buf, size_t *left, const char *s) {
    size_t n = strlen(s) + 1;
    if (n > *left) return NULL;
    char *at = *buf;
    memcpy(at, s, n);
    *buf += n;
    *left -= n;
    return at;
}

enum nss_status _nss_casefold_getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen, int *errnop) {
    char want[256];
    size_t i;
    for (i = 0; name[i] && name[i] != '@' && i < sizeof want - 1; i++) want[i] = (char)tolower((unsigned char)name[i]);
    want[i] = 0;
    FILE *f = fopen(PASSWD_FILE, "re");
    if (!f) {
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *field[7];
        char *p = line;
        int n;
        line[strcspn(line, "\n")] = 0;
        for (n = 0; n < 7 && p; n++) {
            field[n] = p;
            p = strchr(p, ':');
            if (p) *p++ = 0;
        }
        if (n < 7 || strcmp(field[0], want) != 0) continue;
        fclose(f);
        char *cursor = buf;
        size_t left = buflen;
        pwd->pw_name = put(&cursor, &left, field[0]);
        pwd->pw_passwd = put(&cursor, &left, field[1]);
        pwd->pw_gecos = put(&cursor, &left, field[4]);
        pwd->pw_dir = put(&cursor, &left, field[5]);
        pwd->pw_shell = put(&cursor, &left, field[6]);
        if (!pwd->pw_name || !pwd->pw_passwd || !pwd->pw_gecos || !pwd->pw_dir || !pwd->pw_shell) {
            *errnop = ERANGE;
            return NSS_STATUS_TRYAGAIN;
        }
        pwd->pw_uid = (uid_t)strtoul(field[2], NULL, 10);
        pwd->pw_gid = (gid_t)strtoul(field[3], NULL, 10);
        return NSS_STATUS_SUCCESS;
    }
    fclose(f);
    *errnop = ENOENT;
    return NSS_STATUS_NOTFOUND;
}
