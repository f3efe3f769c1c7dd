/*
 * udpgen: a paced DogStatsD load generator for `npm run bench`.
 * Sends pre-built datagrams (one per line of a file, with "\\n" escapes turned into
 * newlines) to 127.0.0.1:<port> at <rate> datagrams/s for <seconds>, using
 * sendmmsg batches. Prints "sent <datagrams>" when done. Loopback only.
 *
 *   udpgen <port> <datagram-file> <datagrams-per-second> <seconds>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXD 100000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: udpgen <port> <file> <datagrams/s> <seconds>\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double rate = atof(argv[3]);
  double seconds = atof(argv[4]);
  FILE *f = fopen(argv[2], "r");
  if (!f) { perror("open"); return 1; }
  static char *data[MAXD];
  static size_t lens[MAXD];
  size_t n = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (n < MAXD && (len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') len--;
    char *out = malloc(len + 1);
    size_t o = 0;
    for (ssize_t i = 0; i < len; i++) {
      if (line[i] == '\\' && i + 1 < len && line[i + 1] == 'n') { out[o++] = '\n'; i++; }
      else out[o++] = line[i];
    }
    data[n] = out;
    lens[n] = o;
    n++;
  }
  fclose(f);
  if (n == 0) { fprintf(stderr, "no datagrams\n"); return 1; }

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }

  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  long long total = (long long)(rate * seconds);
  long long sent = 0;
  size_t idx = 0;
  double start = now_s();
  while (sent < total) {
    double due = (now_s() - start) * rate;
    long long want = (long long)due - sent;
    if (want <= 0) {
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (want > BATCH) want = BATCH;
    if (want > total - sent) want = total - sent;
    for (int i = 0; i < want; i++) {
      iovs[i].iov_base = data[idx];
      iovs[i].iov_len = lens[idx];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      idx = (idx + 1) % n;
    }
    int r = sendmmsg(fd, msgs, want, 0);
    if (r < 0) { perror("sendmmsg"); return 1; }
    sent += r;
  }
  double took = now_s() - start;
  printf("sent %lld %.3f\n", sent, took);
  return 0;
}
