/*
 * unixgram: Unix datagram sockets for Node.js (Node-API, Linux).
 *
 * Node 20 has no AF_UNIX/SOCK_DGRAM support in core; this addon provides the
 * minimum Veneur's `unixgram://` listeners and clients need, and the same
 * recvmmsg reader for UDP (src/ingest/udp.ts; with ingest workers the
 * primary binds, the workers adopt the inherited fds and read):
 *
 *   bind(path, rcvbuf) -> fd          bound, non-blocking, CLOEXEC socket
 *   socket() -> fd                    unbound client socket (non-blocking)
 *   adopt(fd) -> fd                   take an inherited AF_UNIX/SOCK_DGRAM fd
 *   bindUdp(host, port, rcvbuf, reuseport) -> fd   bound UDP socket, non-blocking
 *   localPort(fd) -> port             bound port of an inet socket
 *   spreadReuseport(fd, n)            SO_REUSEPORT group: each datagram to a random one of n sockets
 *   adoptUdp(fd) -> fd                take an inherited UDP (AF_INET/AF_INET6) fd
 *   lock(path) -> fd                  open(O_CREAT) + flock(LOCK_EX|LOCK_NB)
 *   getRecvBufferSize(fd) -> bytes    SO_RCVBUF as the kernel reports it
 *   startReading(fd, maxDatagram, batch, cb[, stealFds])
 *   stopReading(fd) -> bool           true when a reader was stopped
 *   send(fd | -1, path, buffer) -> n  bytes sent, or -1 when the receiver's
 *                                     queue is full (EAGAIN); never blocks
 *   close(fd)                         stops its reader, closes the fd
 *
 * A path starting with '@' names an abstract socket: sun_path[0] = '\0',
 * the name follows, and the address length is exactly
 * offsetof(sun_path) + 1 + strlen(name) (not padded to sizeof(sockaddr_un)),
 * as Go, Python and socat do.
 *
 * Errors: bad arguments and failed syscalls throw JS Errors whose `code` is
 * the errno name ('EADDRINUSE', ...), with `errno` (negative, libuv style),
 * `syscall` and, where relevant, `path`. The addon only operates on fds it
 * created or adopted (others give EBADF), so JS cannot close stdin by mistake.
 *
 * Reading: a uv_poll_t watches the fd; on readability the socket is drained
 * with recvmmsg(MSG_TRUNC) into ONE receive area of batch * (maxDatagram+1)
 * bytes allocated at startReading. Datagram i of a batch starts at offset
 * i * (maxDatagram+1); lengths[i] holds its TRUE length (MSG_TRUNC), so a
 * datagram longer than maxDatagram shows up with a length > maxDatagram and
 * only its first maxDatagram+1 bytes in the buffer. The callback is
 *   cb(buffer, lengths, count)
 * once per recvmmsg batch, where buffer (a Buffer over the native area) and
 * lengths (an Int32Array of `batch` entries) are the same objects on every
 * call. count < 0 reports a read error: count is -errno (pass it to
 * util.getSystemErrorName) and a 4th argument `stopped` tells whether the
 * reader gave up (fatal errors such as EBADF) or will keep reading
 * (transient ones such as ENOMEM). One wakeup reads at most
 * MAX_DATAGRAMS_PER_WAKEUP datagrams so the event loop is not starved; the
 * poll is level-triggered, so the rest is read on the next loop turn.
 *
 * stealFds (optional): more sockets the same reader polls. When one of them
 * wakes it, the reader first drains its own fd, then that socket, into the
 * same buffer and callback. With a SO_REUSEPORT group where every process
 * owns one socket and steals from the others, each reader works on its own
 * receive queue (no lock or cache-line contention with the other readers)
 * and a busy, stopped or dead reader's queue is still drained. close() of
 * any of these fds stops the reader.
 * Nothing is allocated per datagram or per batch (besides the V8 handles
 * of the call itself).
 *
 * The receive memory belongs to the Buffer (freed by its finalizer), so JS
 * holding on to it after stopReading/close never sees freed memory. Readers
 * are closed by a Node-API async cleanup hook when the environment (a worker
 * thread, or the process) shuts down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#ifndef __linux__
#error "unixgram addon: Linux only (recvmmsg, abstract sockets)"
#endif

#define MAX_DATAGRAM_LIMIT (16 * 1024 * 1024)
#define MAX_BATCH 1024
#define MAX_DATAGRAMS_PER_WAKEUP 4096

typedef struct addon_state addon_state;
typedef struct reader reader;

/* A socket a reader reads after its own one is empty (see startReading). */
typedef struct steal_poll {
  uv_poll_t poll; /* data = the reader */
  int fd;
  int initialized;
} steal_poll;

struct reader {
  uv_poll_t poll; /* the reader's own socket; every handle's data = the reader */
  addon_state *state;
  napi_env env;
  int fd;
  int closing;
  int in_callback;     /* inside the JS callback */
  int release_pending; /* stopped during the callback: release refs after it */
  size_t slot;  /* maxDatagram + 1 */
  unsigned batch;
  char *data;       /* owned by the Buffer's finalizer */
  int32_t *lengths; /* owned by the ArrayBuffer's finalizer */
  struct mmsghdr *msgs;
  struct iovec *iovs;
  napi_ref callback;
  napi_ref buffer;
  napi_ref lengths_array;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
  steal_poll *steals; /* other sockets, read when woken by them once fd is empty */
  unsigned nsteals;
  unsigned open_handles; /* poll handles initialised and not yet closed */
  int poll_initialized;
  struct reader *next;
};

struct addon_state {
  int *fds; /* fds created or adopted by this addon instance */
  size_t nfds, cap;
  reader *readers;
};

/* ---------- errors ---------- */

static void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *code = uv_err_name(uv_translate_sys_error(err));
  char msg[512];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, strerror(err), syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", code, strerror(err), syscall);
  napi_value js_code, js_msg, error, v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code) != napi_ok) return;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg) != napi_ok) return;
  if (napi_create_error(env, js_code, js_msg, &error) != napi_ok) return;
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (path != NULL && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "path", v);
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

static void throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

/* ---------- fd bookkeeping ---------- */

static int track_fd(addon_state *st, int fd) {
  if (st->nfds == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    int *fds = realloc(st->fds, cap * sizeof *fds);
    if (fds == NULL) return -1;
    st->fds = fds;
    st->cap = cap;
  }
  st->fds[st->nfds++] = fd;
  return 0;
}

static int owns_fd(addon_state *st, int fd) {
  for (size_t i = 0; i < st->nfds; i++)
    if (st->fds[i] == fd) return 1;
  return 0;
}

static void untrack_fd(addon_state *st, int fd) {
  for (size_t i = 0; i < st->nfds; i++) {
    if (st->fds[i] == fd) {
      st->fds[i] = st->fds[--st->nfds];
      return;
    }
  }
}

static reader *find_reader(addon_state *st, int fd) {
  for (reader *r = st->readers; r != NULL; r = r->next)
    if (r->fd == fd && !r->closing) return r;
  return NULL;
}

/* The live reader that polls fd, as its own socket or one it steals from. */
static reader *reader_using(addon_state *st, int fd) {
  for (reader *r = st->readers; r != NULL; r = r->next) {
    if (r->closing) continue;
    if (r->fd == fd) return r;
    for (unsigned i = 0; i < r->nsteals; i++)
      if (r->steals[i].fd == fd) return r;
  }
  return NULL;
}

static void unlink_reader(addon_state *st, reader *r) {
  for (reader **p = &st->readers; *p != NULL; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      return;
    }
  }
}

/* ---------- argument helpers ---------- */

static addon_state *get_args(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_instance_data(env, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, NULL, "unixgram: addon state missing");
    return NULL;
  }
  return data;
}

static int get_int(napi_env env, napi_value v, const char *what, int64_t min, int64_t max, int64_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    throw_type(env, msg);
    return 0;
  }
  napi_get_value_double(env, v, &d);
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", what, (long long)min,
             (long long)max);
    throw_range(env, msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

/* fd argument that must belong to this addon instance */
static int get_owned_fd(napi_env env, addon_state *st, napi_value v, const char *syscall, int *fd) {
  int64_t n;
  if (!get_int(env, v, "fd", 0, INT32_MAX, &n)) return 0;
  if (!owns_fd(st, (int)n)) {
    throw_errno(env, EBADF, syscall, NULL);
    return 0;
  }
  *fd = (int)n;
  return 1;
}

/* Fills addr from a JS string: '/path' or '@abstract'. Returns the address
 * length, or 0 after throwing. text receives the NUL-terminated string. */
static socklen_t get_sockaddr(napi_env env, napi_value v, struct sockaddr_un *addr, char *text,
                              size_t text_size, const char *syscall) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_type(env, "path must be a string");
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return 0;
  if (len == 0) {
    throw_errno(env, EINVAL, syscall, "");
    return 0;
  }
  if (len >= text_size || len >= sizeof addr->sun_path + 1) {
    throw_errno(env, ENAMETOOLONG, syscall, NULL);
    return 0;
  }
  napi_get_value_string_utf8(env, v, text, text_size, &len);
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (text[0] == '@') {
    /* abstract: '\0' + name, length = exactly what is used */
    if (len < 2) {
      throw_errno(env, EINVAL, syscall, text);
      return 0;
    }
    addr->sun_path[0] = '\0';
    memcpy(addr->sun_path + 1, text + 1, len - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  }
  if (len >= sizeof addr->sun_path) {
    throw_errno(env, ENAMETOOLONG, syscall, text);
    return 0;
  }
  if (memchr(text, '\0', len) != NULL) {
    throw_errno(env, EINVAL, syscall, NULL);
    return 0;
  }
  memcpy(addr->sun_path, text, len);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

static napi_value make_undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/* ---------- sockets ---------- */

/* Shared tail of bind()/bindUdp(): SO_RCVBUF when > 0, bind, track. Closes fd and
 * throws on failure; returns the fd as a JS number. */
static napi_value finish_bind(napi_env env, addon_state *st, int fd, int64_t rcvbuf,
                              const struct sockaddr *addr, socklen_t alen, const char *what) {
  if (rcvbuf > 0) {
    int n = (int)rcvbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n) != 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "setsockopt", what);
      return NULL;
    }
  }
  if (bind(fd, addr, alen) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", what);
    return NULL;
  }
  if (track_fd(st, fd) != 0) {
    close(fd);
    throw_errno(env, ENOMEM, "bind", what);
    return NULL;
  }
  return make_int(env, fd);
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 2) {
    throw_type(env, "bind(path, rcvbuf)");
    return NULL;
  }
  struct sockaddr_un addr;
  char text[sizeof addr.sun_path + 2];
  socklen_t alen = get_sockaddr(env, argv[0], &addr, text, sizeof text, "bind");
  if (alen == 0) return NULL;
  int64_t rcvbuf;
  if (!get_int(env, argv[1], "rcvbuf", 0, INT32_MAX, &rcvbuf)) return NULL;

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  return finish_bind(env, st, fd, rcvbuf, (struct sockaddr *)&addr, alen, text);
}

/* bindUdp(host, port, rcvbuf, reuseport) -> fd: a non-blocking UDP socket for the
 * same recvmmsg reader (startReading). host: an IPv4/IPv6 literal or '' (any).
 * reuseport: SO_REUSEPORT, so several processes can each bind the address and the
 * kernel spreads datagrams over them (Node 20's dgram cannot). */
static napi_value js_bind_udp(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 4) {
    throw_type(env, "bindUdp(host, port, rcvbuf, reuseport)");
    return NULL;
  }
  char host[64];
  size_t hlen = 0;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string) {
    throw_type(env, "host must be a string");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hlen);
  int64_t port, rcvbuf;
  if (!get_int(env, argv[1], "port", 0, 65535, &port)) return NULL;
  if (!get_int(env, argv[2], "rcvbuf", 0, INT32_MAX, &rcvbuf)) return NULL;
  bool reuse = false;
  napi_get_value_bool(env, argv[3], &reuse);

  struct sockaddr_storage ss;
  socklen_t alen;
  memset(&ss, 0, sizeof ss);
  int family;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (hlen == 0 || strcmp(host, "0.0.0.0") == 0) {
    family = AF_INET;
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    a4->sin_port = htons((uint16_t)port);
    alen = sizeof *a4;
  } else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    family = AF_INET;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    alen = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    family = AF_INET6;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    alen = sizeof *a6;
  } else {
    throw_errno(env, EINVAL, "bindUdp", host);
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "setsockopt", "SO_REUSEPORT");
    return NULL;
  }
  return finish_bind(env, st, fd, rcvbuf, (struct sockaddr *)&ss, alen, host);
}

/* localPort(fd) -> the bound port of an owned inet socket */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  int fd;
  if (argc < 1 || !get_owned_fd(env, st, argv[0], "getsockname", &fd)) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    throw_errno(env, errno, "getsockname", NULL);
    return NULL;
  }
  int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return make_int(env, port);
}

/* spreadReuseport(fd, n): attach to fd's SO_REUSEPORT group a classic BPF
 * program that sends each datagram to socket (random % n) of the group (the
 * sockets in the order they were bound), instead of the kernel's default hash
 * of the sender's address, which puts all of one sender's datagrams on one
 * socket. */
static napi_value js_spread_reuseport(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 2) {
    throw_type(env, "spreadReuseport(fd, n)");
    return NULL;
  }
  int fd;
  int64_t n;
  if (!get_owned_fd(env, st, argv[0], "setsockopt", &fd)) return NULL;
  if (!get_int(env, argv[1], "n", 1, 65535, &n)) return NULL;
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)n),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
    throw_errno(env, errno, "setsockopt", "SO_ATTACH_REUSEPORT_CBPF");
    return NULL;
  }
  return make_undefined(env);
}

static napi_value js_socket(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  addon_state *st = get_args(env, info, &argc, NULL);
  if (st == NULL) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  if (track_fd(st, fd) != 0) {
    close(fd);
    throw_errno(env, ENOMEM, "socket", NULL);
    return NULL;
  }
  return make_int(env, fd);
}

/* Takes over an inherited fd (e.g. passed to a cluster worker through
 * stdio) after checking its kind: the socket's domain must satisfy
 * want_domain and its type must be SOCK_DGRAM (ENOTSOCK otherwise). It is
 * made non-blocking (a flag of the open file description, so shared with the
 * parent's copy, which is non-blocking already) and close-on-exec (a flag of
 * this fd only). Adopting an fd this addon already owns returns it. */
static napi_value adopt_fd(napi_env env, napi_callback_info info, int (*want_domain)(int),
                           const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 1) {
    throw_type(env, usage);
    return NULL;
  }
  int64_t n;
  if (!get_int(env, argv[0], "fd", 0, INT32_MAX, &n)) return NULL;
  int fd = (int)n;
  if (owns_fd(st, fd)) return make_int(env, fd);
  int domain = 0, type = 0;
  socklen_t l = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) != 0) {
    throw_errno(env, errno, "adopt", NULL);
    return NULL;
  }
  l = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) {
    throw_errno(env, errno, "adopt", NULL);
    return NULL;
  }
  if (!want_domain(domain) || type != SOCK_DGRAM) {
    throw_errno(env, ENOTSOCK, "adopt", NULL);
    return NULL;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    throw_errno(env, errno, "fcntl", NULL);
    return NULL;
  }
  if (track_fd(st, fd) != 0) {
    throw_errno(env, ENOMEM, "adopt", NULL);
    return NULL;
  }
  return make_int(env, fd);
}

static int is_unix(int domain) { return domain == AF_UNIX; }
static int is_inet(int domain) { return domain == AF_INET || domain == AF_INET6; }

/* adopt(fd): an inherited AF_UNIX/SOCK_DGRAM socket (unixgram listeners). */
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  return adopt_fd(env, info, is_unix, "adopt(fd)");
}

/* adoptUdp(fd): an inherited, bound UDP socket (AF_INET/AF_INET6, SOCK_DGRAM),
 * e.g. the socket a cluster primary bound with bindUdp and passed to its
 * workers through stdio. Every process that adopts the same socket can run
 * startReading on it: they share one receive queue, and the kernel hands
 * each datagram to exactly one recvmmsg call. */
static napi_value js_adopt_udp(napi_env env, napi_callback_info info) {
  return adopt_fd(env, info, is_inet, "adoptUdp(fd)");
}

/* Exclusive advisory lock (flock, like Veneur's Go code) on a lock file that
 * is created if missing. The lock lives as long as the returned fd; the
 * kernel releases it when the process dies. Held elsewhere -> EWOULDBLOCK
 * (code 'EAGAIN'). */
static napi_value js_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 1) {
    throw_type(env, "lock(path)");
    return NULL;
  }
  napi_valuetype t;
  size_t len = 0;
  char path[4096];
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string) {
    throw_type(env, "path must be a string");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], NULL, 0, &len);
  if (len == 0 || len >= sizeof path) {
    throw_errno(env, len == 0 ? ENOENT : ENAMETOOLONG, "open", NULL);
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len);
  if (strlen(path) != len) {
    throw_errno(env, EINVAL, "open", NULL);
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw_errno(env, errno, "open", path);
    return NULL;
  }
  int rc;
  do rc = flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "flock", path);
    return NULL;
  }
  if (track_fd(st, fd) != 0) {
    close(fd);
    throw_errno(env, ENOMEM, "flock", path);
    return NULL;
  }
  return make_int(env, fd);
}

static napi_value js_get_recv_buffer_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 1) {
    throw_type(env, "getRecvBufferSize(fd)");
    return NULL;
  }
  int fd;
  if (!get_owned_fd(env, st, argv[0], "getsockopt", &fd)) return NULL;
  int n = 0;
  socklen_t l = sizeof n;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, &l) != 0) {
    throw_errno(env, errno, "getsockopt", NULL);
    return NULL;
  }
  return make_int(env, n);
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 3) {
    throw_type(env, "send(fd, path, buffer)");
    return NULL;
  }
  int64_t n;
  if (!get_int(env, argv[0], "fd", -1, INT32_MAX, &n)) return NULL;
  int fd = (int)n;
  if (fd >= 0 && !owns_fd(st, fd)) {
    throw_errno(env, EBADF, "sendto", NULL);
    return NULL;
  }
  struct sockaddr_un addr;
  char text[sizeof addr.sun_path + 2];
  socklen_t alen = get_sockaddr(env, argv[1], &addr, text, sizeof text, "sendto");
  if (alen == 0) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool is_typed = false, is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  if (is_buffer) {
    napi_get_buffer_info(env, argv[2], &data, &len);
  } else if (napi_is_typedarray(env, argv[2], &is_typed) == napi_ok && is_typed) {
    napi_typedarray_type tt;
    size_t count, offset;
    napi_value ab;
    napi_get_typedarray_info(env, argv[2], &tt, &count, &data, &ab, &offset);
    if (tt != napi_uint8_array && tt != napi_int8_array && tt != napi_uint8_clamped_array) {
      throw_type(env, "buffer must be a Buffer or Uint8Array");
      return NULL;
    }
    len = count;
  } else {
    throw_type(env, "buffer must be a Buffer or Uint8Array");
    return NULL;
  }
  int own = fd < 0;
  if (own) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw_errno(env, errno, "socket", NULL);
      return NULL;
    }
  }
  ssize_t rc;
  do rc = sendto(fd, data == NULL ? "" : data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                 (struct sockaddr *)&addr, alen);
  while (rc < 0 && errno == EINTR);
  int err = errno;
  if (own) close(fd);
  if (rc < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return make_int(env, -1);
    throw_errno(env, err, "sendto", text);
    return NULL;
  }
  return make_int(env, rc);
}

/* ---------- reading ---------- */

static void free_finalizer(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void clear_pending(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    napi_get_and_clear_last_exception(env, &exc);
}

/* The reader struct and its iovec/mmsghdr arrays (the receive area and the
 * lengths belong to their JS objects). */
static void free_reader_memory(reader *r) {
  if (r == NULL) return;
  free(r->msgs);
  free(r->iovs);
  free(r->steals);
  free(r);
}

/* Drops the references to the callback, the Buffer and the lengths array,
 * and the async context. Safe to call twice. */
static void release_napi(reader *r) {
  if (r->callback != NULL) napi_delete_reference(r->env, r->callback);
  if (r->buffer != NULL) napi_delete_reference(r->env, r->buffer);
  if (r->lengths_array != NULL) napi_delete_reference(r->env, r->lengths_array);
  if (r->async_ctx != NULL) napi_async_destroy(r->env, r->async_ctx);
  r->callback = r->buffer = r->lengths_array = NULL;
  r->async_ctx = NULL;
}

/* Close callback of every poll handle of a reader: the last one frees it. */
static void on_reader_closed(uv_handle_t *h) {
  reader *r = h->data;
  if (--r->open_handles > 0) return;
  if (r->cleanup != NULL) napi_remove_async_cleanup_hook(r->cleanup);
  free_reader_memory(r);
}

/* Stops and closes every initialised poll handle of r. */
static void close_handles(reader *r) {
  if (r->open_handles == 0) {
    free_reader_memory(r);
    return;
  }
  if (r->poll_initialized) {
    uv_poll_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, on_reader_closed);
  }
  for (unsigned i = 0; i < r->nsteals; i++) {
    if (!r->steals[i].initialized) continue;
    uv_poll_stop(&r->steals[i].poll);
    uv_close((uv_handle_t *)&r->steals[i].poll, on_reader_closed);
  }
}

/* Stops polling and schedules the handle close (the struct is freed in the
 * close callback, on a later loop phase, so on_readable may still look at
 * r->closing after a JS callback stopped the reader). with_napi = 0 in the
 * environment-teardown path, where Node reclaims references itself. While
 * the JS callback runs, releasing the references is deferred until it
 * returns. */
static void stop_reader(reader *r, int with_napi) {
  if (r->closing) return;
  r->closing = 1;
  unlink_reader(r->state, r);
  if (with_napi) {
    if (r->in_callback)
      r->release_pending = 1;
    else
      release_napi(r);
  }
  close_handles(r);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  reader *r = arg;
  (void)handle;
  /* If the reader is already closing, on_reader_closed removes the hook. */
  stop_reader(r, 0);
}

static int is_fatal_read_error(int err) {
  return !(err == ENOMEM || err == ENOBUFS || err == EINTR || err == EAGAIN || err == EWOULDBLOCK);
}

/* Calls the JS callback; returns 0 if the reader must stop looping. */
static int deliver(reader *r, int count, int stopped) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value cb, argv[4], recv, result;
  int ok = napi_get_reference_value(env, r->callback, &cb) == napi_ok && cb != NULL &&
           napi_get_reference_value(env, r->buffer, &argv[0]) == napi_ok &&
           napi_get_reference_value(env, r->lengths_array, &argv[1]) == napi_ok &&
           napi_create_int32(env, count, &argv[2]) == napi_ok &&
           napi_get_boolean(env, stopped, &argv[3]) == napi_ok && napi_get_global(env, &recv) == napi_ok;
  if (ok) {
    r->in_callback = 1;
    napi_status s = napi_make_callback(env, r->async_ctx, recv, cb, 4, argv, &result);
    r->in_callback = 0;
    if (s != napi_ok) {
      bool pending = false;
      napi_value exc;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        napi_valuetype t = napi_undefined;
        napi_typeof(env, exc, &t);
        /* like a throw in an event handler: 'uncaughtException' */
        if (t != napi_undefined) napi_fatal_exception(env, exc);
      }
      ok = 0;
    }
    if (r->release_pending) {
      r->release_pending = 0;
      release_napi(r);
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

/* Readable: drain the reader's own socket, then (when a socket it steals
 * from woke it) that socket. Own-first keeps readers of a SO_REUSEPORT group
 * on their own receive queues, so they do not contend for one queue's lock
 * and cache lines; stealing only takes over what a busy, stopped or dead
 * peer leaves queued. */
static void on_readable(uv_poll_t *handle, int status, int events) {
  reader *r = handle->data;
  if (r->closing) return;
  if (status < 0) {
    /* libuv status is -errno on Unix */
    int err = -status;
    int fatal = is_fatal_read_error(err);
    deliver(r, -err, fatal);
    if (fatal) stop_reader(r, 1);
    return;
  }
  if (!(events & UV_READABLE)) return;
  int steal_fd = handle == &r->poll ? -1 : ((steal_poll *)handle)->fd;
  int fd = r->fd;
  unsigned total = 0;
  while (!r->closing && total < MAX_DATAGRAMS_PER_WAKEUP) {
    int n = recvmmsg(fd, r->msgs, r->batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err != EAGAIN && err != EWOULDBLOCK) {
        int fatal = is_fatal_read_error(err);
        deliver(r, -err, fatal);
        if (fatal) stop_reader(r, 1);
        break;
      }
      n = 0;
    }
    if (n > 0) {
      for (int i = 0; i < n; i++) {
        unsigned len = r->msgs[i].msg_len;
        /* MSG_TRUNC makes msg_len the real length; the flag check covers a
         * kernel that would report only the copied part. */
        if ((r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) && len < r->slot) len = (unsigned)r->slot;
        if (len > INT32_MAX) len = INT32_MAX;
        r->lengths[i] = (int32_t)len;
        r->msgs[i].msg_hdr.msg_flags = 0;
      }
      total += (unsigned)n;
      if (!deliver(r, n, 0)) break;
    }
    if ((unsigned)n < r->batch) {
      /* drained: after our own socket, the one that woke us */
      if (fd == r->fd && steal_fd >= 0) {
        fd = steal_fd;
        continue;
      }
      break;
    }
  }
}

#define MAX_STEALS 256

/* Optional 5th argument of startReading: an array of owned fds, distinct,
 * other than fd and not read by another reader. Returns the count, or -1
 * after throwing. */
static int get_steal_fds(napi_env env, addon_state *st, napi_value v, int fd, int *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  bool is_array = false;
  uint32_t len = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) {
    throw_type(env, "stealFds must be an array of fds");
    return -1;
  }
  napi_get_array_length(env, v, &len);
  if (len > MAX_STEALS) {
    throw_range(env, "stealFds: at most 256 fds");
    return -1;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok) return -1;
    if (!get_owned_fd(env, st, e, "startReading", &out[i])) return -1;
    int dup = out[i] == fd;
    for (uint32_t j = 0; j < i; j++) dup |= out[j] == out[i];
    if (dup) {
      throw_errno(env, EINVAL, "startReading", NULL);
      return -1;
    }
    if (reader_using(st, out[i]) != NULL) {
      throw_errno(env, EBUSY, "startReading", NULL);
      return -1;
    }
  }
  return (int)len;
}

static napi_value js_start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 4) {
    throw_type(env, "startReading(fd, maxDatagram, batch, callback[, stealFds])");
    return NULL;
  }
  int fd;
  int64_t max_datagram, batch;
  if (!get_owned_fd(env, st, argv[0], "startReading", &fd)) return NULL;
  if (!get_int(env, argv[1], "maxDatagram", 1, MAX_DATAGRAM_LIMIT, &max_datagram)) return NULL;
  if (!get_int(env, argv[2], "batch", 1, MAX_BATCH, &batch)) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function) {
    throw_type(env, "callback must be a function");
    return NULL;
  }
  if (reader_using(st, fd) != NULL) {
    throw_errno(env, EBUSY, "startReading", NULL);
    return NULL;
  }
  int steal_fds[MAX_STEALS];
  int nsteals = argc >= 5 ? get_steal_fds(env, st, argv[4], fd, steal_fds) : 0;
  if (nsteals < 0) return NULL;
  size_t slot = (size_t)max_datagram + 1;
  size_t total = slot * (size_t)batch;
  if (total > (size_t)256 * 1024 * 1024) {
    throw_range(env, "batch * (maxDatagram + 1) must not exceed 256 MiB");
    return NULL;
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "unixgram: no event loop");
    return NULL;
  }

  reader *r = calloc(1, sizeof *r);
  if (r != NULL) {
    r->msgs = calloc((size_t)batch, sizeof *r->msgs);
    r->iovs = calloc((size_t)batch, sizeof *r->iovs);
    if (nsteals > 0) r->steals = calloc((size_t)nsteals, sizeof *r->steals);
  }
  if (r == NULL || r->msgs == NULL || r->iovs == NULL || (nsteals > 0 && r->steals == NULL)) {
    free_reader_memory(r);
    throw_errno(env, ENOMEM, "startReading", NULL);
    return NULL;
  }
  r->state = st;
  r->env = env;
  r->fd = fd;
  r->slot = slot;
  r->batch = (unsigned)batch;
  r->nsteals = (unsigned)nsteals;
  for (int i = 0; i < nsteals; i++) r->steals[i].fd = steal_fds[i];

  /* The receive area and the lengths belong to their JS objects from the
   * start: external memory freed by a finalizer, or (where external buffers
   * are not allowed) memory V8 allocates. */
  napi_value buffer, ab, lengths_array, name;
  void *data = malloc(total);
  if (data == NULL) {
    free_reader_memory(r);
    throw_errno(env, ENOMEM, "startReading", NULL);
    return NULL;
  }
  if (napi_create_external_buffer(env, total, data, free_finalizer, NULL, &buffer) != napi_ok) {
    free(data);
    clear_pending(env);
    if (napi_create_buffer(env, total, &data, &buffer) != napi_ok) {
      free_reader_memory(r);
      clear_pending(env);
      throw_errno(env, ENOMEM, "startReading", NULL);
      return NULL;
    }
  }
  void *lengths = calloc((size_t)batch, sizeof(int32_t));
  if (lengths == NULL) {
    free_reader_memory(r);
    throw_errno(env, ENOMEM, "startReading", NULL);
    return NULL;
  }
  if (napi_create_external_arraybuffer(env, lengths, (size_t)batch * sizeof(int32_t), free_finalizer, NULL,
                                       &ab) != napi_ok) {
    free(lengths);
    clear_pending(env);
    if (napi_create_arraybuffer(env, (size_t)batch * sizeof(int32_t), &lengths, &ab) != napi_ok) {
      free_reader_memory(r);
      clear_pending(env);
      throw_errno(env, ENOMEM, "startReading", NULL);
      return NULL;
    }
  }
  r->data = data;
  r->lengths = lengths;
  for (unsigned i = 0; i < r->batch; i++) {
    r->iovs[i].iov_base = r->data + (size_t)i * slot;
    r->iovs[i].iov_len = slot;
    r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  r->callback = r->buffer = r->lengths_array = NULL;
  r->async_ctx = NULL;
  if (napi_create_typedarray(env, napi_int32_array, (size_t)batch, ab, 0, &lengths_array) != napi_ok ||
      napi_create_string_utf8(env, "unixgram", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &r->callback) != napi_ok ||
      napi_create_reference(env, buffer, 1, &r->buffer) != napi_ok ||
      napi_create_reference(env, lengths_array, 1, &r->lengths_array) != napi_ok ||
      napi_async_init(env, NULL, name, &r->async_ctx) != napi_ok) {
    release_napi(r);
    free_reader_memory(r);
    clear_pending(env);
    napi_throw_error(env, NULL, "unixgram: cannot set up the reader");
    return NULL;
  }
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc != 0) {
    release_napi(r);
    free_reader_memory(r);
    throw_errno(env, -rc, "uv_poll_init", NULL);
    return NULL;
  }
  r->poll.data = r;
  r->poll_initialized = 1;
  r->open_handles = 1;
  const char *failed = NULL;
  for (unsigned i = 0; i < r->nsteals && failed == NULL; i++) {
    rc = uv_poll_init(loop, &r->steals[i].poll, r->steals[i].fd);
    if (rc != 0) {
      failed = "uv_poll_init";
      break;
    }
    r->steals[i].poll.data = r;
    r->steals[i].initialized = 1;
    r->open_handles++;
  }
  if (failed == NULL) {
    rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
    for (unsigned i = 0; i < r->nsteals && rc == 0; i++)
      rc = uv_poll_start(&r->steals[i].poll, UV_READABLE, on_readable);
    if (rc != 0) failed = "uv_poll_start";
  }
  if (failed != NULL) {
    r->closing = 1;
    release_napi(r);
    close_handles(r);
    throw_errno(env, -rc, failed, NULL);
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, on_env_cleanup, r, &r->cleanup) != napi_ok) r->cleanup = NULL;
  r->next = st->readers;
  st->readers = r;
  return make_undefined(env);
}

static napi_value js_stop_reading(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 1) {
    throw_type(env, "stopReading(fd)");
    return NULL;
  }
  int64_t n;
  if (!get_int(env, argv[0], "fd", -1, INT32_MAX, &n)) return NULL;
  reader *r = find_reader(st, (int)n);
  napi_value result;
  napi_get_boolean(env, r != NULL, &result);
  if (r != NULL) stop_reader(r, 1);
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *st = get_args(env, info, &argc, argv);
  if (st == NULL) return NULL;
  if (argc < 1) {
    throw_type(env, "close(fd)");
    return NULL;
  }
  int fd;
  if (!get_owned_fd(env, st, argv[0], "close", &fd)) return NULL;
  /* never leave a poll on a closed fd: stop the reader reading it, own or stolen */
  reader *r = reader_using(st, fd);
  if (r != NULL) stop_reader(r, 1);
  untrack_fd(st, fd);
  /* Linux always releases the fd, even on EINTR: never retry. */
  close(fd);
  return make_undefined(env);
}

/* ---------- module ---------- */

static void state_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_state *st = data;
  /* readers were closed by their async cleanup hooks before this runs */
  for (size_t i = 0; i < st->nfds; i++) close(st->fds[i]);
  free(st->fds);
  free(st);
}

static napi_value init(napi_env env, napi_value exports) {
  addon_state *st = calloc(1, sizeof *st);
  if (st == NULL || napi_set_instance_data(env, st, state_finalize, NULL) != napi_ok) {
    free(st);
    napi_throw_error(env, NULL, "unixgram: cannot allocate addon state");
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bindUdp", NULL, js_bind_udp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, js_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spreadReuseport", NULL, js_spread_reuseport, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adoptUdp", NULL, js_adopt_udp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lock", NULL, js_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getRecvBufferSize", NULL, js_get_recv_buffer_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReading", NULL, js_start_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReading", NULL, js_stop_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
