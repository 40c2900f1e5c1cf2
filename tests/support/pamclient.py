#!/usr/bin/python3
"""A libpam client for the tests: runs pam_authenticate for one user and service
and relays the conversation as JSON lines, so the test can answer each prompt
with what it just saw arrive (the SMS code) and read the exact PAM return code.

stdout: {"style": N, "msg": "..."} per message, then {"rc": N, "setcred": N}
stdin:  {"answer": "..."} or {"fail": true} for each prompt (styles 1 and 2)

When PAMCLIENT_READY names a file, a byte is appended to it first thing:
pam_wrapper, preloaded, has set up its /tmp/pam.X by then (its constructor
runs before us).
"""
import argparse
import ctypes
import json
import os
import sys

# Look the pam_* symbols up in the global scope, so that a preloaded pam_wrapper
# comes before the real libpam.
ctypes.CDLL("libpam.so.0", mode=ctypes.RTLD_GLOBAL)
libpam = ctypes.CDLL(None)
libc = ctypes.CDLL("libc.so.6")
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(PamMessage)),
                        ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]


PAM_CONV_ERR = 19
PAM_RHOST, PAM_TTY = 4, 3


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def conversation(n, msgs, resp, _data):
    replies = libc.calloc(n, ctypes.sizeof(PamResponse))
    if not replies:
        return PAM_CONV_ERR
    arr = ctypes.cast(replies, ctypes.POINTER(PamResponse))
    for i in range(n):
        m = msgs[i].contents
        text = (m.msg or b"").decode("utf-8", "replace")
        emit({"style": m.msg_style, "msg": text})
        if m.msg_style in (1, 2):
            line = sys.stdin.readline()
            if not line:
                return PAM_CONV_ERR
            reply = json.loads(line)
            if reply.get("fail"):
                return PAM_CONV_ERR
            arr[i].resp = libc.strdup(reply["answer"].encode("utf-8", "surrogateescape"))
    resp[0] = arr
    return 0


def main():
    ready = os.environ.get("PAMCLIENT_READY")
    if ready:
        try:
            with open(ready, "a") as f:
                f.write("1")
        except OSError:
            pass
    p = argparse.ArgumentParser()
    p.add_argument("--service", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--rhost")
    p.add_argument("--tty")
    p.add_argument("--no-conv", action="store_true", help="register no conversation function")
    p.add_argument("--cycles", type=int, default=0,
                   help="run N logins in this one process (users from --users in turn), answering each "
                        "code prompt with the newest 'Code X for' line of --code-file; prints samples")
    p.add_argument("--users", default="", help="comma-separated users for --cycles")
    p.add_argument("--code-file", help="where the SMS texts arrive, one per line")
    p.add_argument("--sigpipe-default", action="store_true",
                   help="SIGPIPE at its default (death), as in a C host; Python ignores it")
    p.add_argument("--sigxfsz-default", action="store_true",
                   help="SIGXFSZ at its default (death), as in a C host; Python ignores it")
    a = p.parse_args()
    if a.sigpipe_default:
        import signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if a.sigxfsz_default:
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if a.cycles:
        return cycles(a)
    conv = PamConv(CONV(conversation), None)
    if a.no_conv:
        conv = PamConv(CONV(0), None)
    handle = ctypes.c_void_p()
    rc = libpam.pam_start(a.service.encode(), a.user.encode("utf-8", "surrogateescape"),
                          ctypes.byref(conv), ctypes.byref(handle))
    if rc != 0:
        emit({"rc": rc, "stage": "start"})
        return
    if a.rhost is not None:
        libpam.pam_set_item(handle, PAM_RHOST, a.rhost.encode())
    if a.tty is not None:
        libpam.pam_set_item(handle, PAM_TTY, a.tty.encode())
    rc = libpam.pam_authenticate(handle, 0)
    setcred = libpam.pam_setcred(handle, 2) if rc == 0 else None  # PAM_ESTABLISH_CRED
    # threads alive once the module has run: it must start none (it lives in sshd)
    threads = len(__import__("os").listdir("/proc/self/task"))
    libpam.pam_end(handle, rc)
    emit({"rc": rc, "setcred": setcred, "threads": threads})


def newest_code(path):
    import re
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "000000"
    for line in reversed(lines):
        m = re.search(r"Code (\w+) for", line)
        if m:
            return m.group(1)
    return "000000"


def auto_conversation(code_file):
    def conv(n, msgs, resp, _data):
        replies = libc.calloc(n, ctypes.sizeof(PamResponse))
        if not replies:
            return PAM_CONV_ERR
        arr = ctypes.cast(replies, ctypes.POINTER(PamResponse))
        for i in range(n):
            if msgs[i].contents.msg_style in (1, 2):
                arr[i].resp = libc.strdup(newest_code(code_file).encode())
        resp[0] = arr
        return 0
    return CONV(conv)


def sample():
    import os
    rss = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"rss_kb": rss, "fds": len(os.listdir("/proc/self/fd")), "threads": len(os.listdir("/proc/self/task"))}


def cycles(a):
    """Many logins in one process, as a long-lived host does: pam_start,
    pam_authenticate, pam_end (which unloads the module) each time."""
    users = a.users.split(",")
    conv = PamConv(auto_conversation(a.code_file), None)
    rcs = {}
    every = max(1, a.cycles // 20)
    for i in range(a.cycles):
        handle = ctypes.c_void_p()
        rc = libpam.pam_start(a.service.encode(), users[i % len(users)].encode(), ctypes.byref(conv), ctypes.byref(handle))
        if rc == 0:
            if a.rhost is not None:
                libpam.pam_set_item(handle, PAM_RHOST, a.rhost.encode())
            rc = libpam.pam_authenticate(handle, 0)
            libpam.pam_end(handle, rc)
        rcs[rc] = rcs.get(rc, 0) + 1
        if i % every == 0 or i == a.cycles - 1:
            emit(dict(sample(), cycle=i + 1))
    emit({"rcs": {str(k): v for k, v in rcs.items()}, "rc": 0, "setcred": None, "threads": sample()["threads"]})


if __name__ == "__main__":
    main()
