#!/usr/bin/python3
"""A libpam client for the tests: runs pam_authenticate for one user and service
and relays the conversation as JSON lines, so the test can answer each prompt
with what it just saw arrive (the SMS code) and read the exact PAM return code.

stdout: {"style": N, "msg": "..."} per message, then {"rc": N, "setcred": N}
stdin:  {"answer": "..."} or {"fail": true} for each prompt (styles 1 and 2)
"""
import argparse
import ctypes
import json
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
    p = argparse.ArgumentParser()
    p.add_argument("--service", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--rhost")
    p.add_argument("--tty")
    p.add_argument("--no-conv", action="store_true", help="register no conversation function")
    p.add_argument("--sigpipe-default", action="store_true",
                   help="SIGPIPE at its default (death), as in a C host; Python ignores it")
    a = p.parse_args()
    if a.sigpipe_default:
        import signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
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


if __name__ == "__main__":
    main()
