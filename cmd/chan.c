/*
 * chan.c - the data channel for commands that move a stream (send, recv,
 * verify): both ends of its protocol.
 *
 * A one-JSON-response file (.heapfs/ctl) cannot carry gigabytes, and
 * relaying them through FUSE reads would copy every byte twice more.  So
 * heapctl asks through ctl for a channel ({"cmd": "channel"}: the daemon
 * answers with the name of an abstract Unix socket and a one-time token
 * bound to the asker's identity), connects, and sends one line
 *
 *   {"token": "...", "req": {"cmd": "send", ...}}\n
 *
 * with its stdin or stdout attached (SCM_RIGHTS).  The daemon then reads
 * or writes that descriptor itself (zero copies through heapctl, and only
 * the daemon opens the store), and answers with JSON lines: any number of
 * {"progress": {"bytes": N, "total": T, "lines": L, "lines_total": LT}}
 * (totals 0 until known), then the response ({"ok": ...}), then it
 * closes.  heapctl hanging up cancels the command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd_int.h"

#define LINE_MAX_BYTES (64u << 10)

static int name_addr(const char *name, struct sockaddr_un *a, socklen_t *len)
{
	size_t n = strlen(name);

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (n < 2 || name[0] != '@' || n > sizeof(a->sun_path))
		return -EINVAL;
	memcpy(a->sun_path + 1, name + 1, n - 1);   /* abstract: a leading NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

int cmd_chan_listen(const char *name)
{
	struct sockaddr_un a;
	socklen_t len;
	int fd, rc;

	if ((rc = name_addr(name, &a, &len)) < 0)
		return rc;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Write all of @p; -errno. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cmd_chan_send(int conn, const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = send_all(conn, text, strlen(text));
	if (rc == 0)
		rc = send_all(conn, "\n", 1);
	free(text);
	return rc;
}

/*
 * Read one line (at most LINE_MAX_BYTES) from @conn into a malloc'd
 * string; with @fd, take the descriptors that came with it (at most two:
 * -1 if none).  0 (and NULL at a clean end of input) or -errno.
 */
static int read_line(int conn, char **out, int *fd)
{
	char *buf = malloc(LINE_MAX_BYTES + 1);
	size_t len = 0;

	*out = NULL;
	if (fd)
		fd[0] = fd[1] = -1;
	if (!buf)
		return -ENOMEM;
	while (len < LINE_MAX_BYTES) {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = { buf + len, 1 };
		struct msghdr m = { 0 };
		const char *nl;
		ssize_t r;

		if (len) {
			/* The rest as it is queued: a look first, then only
			 * what ends the line is taken, so nothing past it
			 * leaves the socket (a syscall a byte was 380 for a
			 * migration's answer). */
			r = recv(conn, buf + len, LINE_MAX_BYTES - len, MSG_PEEK);
			if (r > 0) {
				nl = memchr(buf + len, '\n', (size_t)r);
				r = recv(conn, buf + len, nl ? (size_t)(nl - (buf + len)) + 1 :
					 (size_t)r, 0);
			}
		} else {
			/* The first byte alone: a descriptor comes with it. */
			m.msg_iov = &iov;
			m.msg_iovlen = 1;
			m.msg_control = fd ? ctl.space : NULL;
			m.msg_controllen = fd ? sizeof(ctl.space) : 0;
			r = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -errno;
		}
		if (r == 0) {
			free(buf);
			return len ? -EPROTO : 0;
		}
		for (struct cmsghdr *c = fd && !len ? CMSG_FIRSTHDR(&m) : NULL; c;
		     c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int got;

				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fd[0] < 0)
					fd[0] = got;
				else if (fd[1] < 0)
					fd[1] = got;
				else
					close(got);   /* two are all a command takes */
			}
		}
		len += (size_t)r;
		if (buf[len - 1] == '\n') {
			buf[len - 1] = '\0';
			*out = buf;
			return 0;
		}
	}
	free(buf);
	return -EMSGSIZE;
}

int cmd_chan_read_request(int conn, json_t **req, char *token, size_t token_cap, int *fd,
			  int *fd2)
{
	json_error_t jerr;
	json_t *msg;
	char *line;
	const char *tok;
	int fds[2], rc = read_line(conn, &line, fds);

	*fd = fds[0];
	*fd2 = fds[1];
	*req = NULL;
	if (rc == 0 && !line)
		rc = -EPROTO;
	if (rc < 0)
		goto fail;
	msg = json_loads(line, 0, &jerr);
	free(line);
	tok = msg ? json_string_value(json_object_get(msg, "token")) : NULL;
	if (!tok || !json_is_object(json_object_get(msg, "req")) || strlen(tok) >= token_cap) {
		json_decref(msg);
		rc = -EPROTO;
		goto fail;
	}
	strcpy(token, tok);
	*req = json_incref(json_object_get(msg, "req"));
	json_decref(msg);
	return 0;
fail:
	if (*fd >= 0)
		close(*fd);
	if (*fd2 >= 0)
		close(*fd2);
	*fd = *fd2 = -1;
	return rc;
}

json_t *cmd_chan_call(const char *name, const char *token, const json_t *req, int fd,
		      int fd2, void (*progress)(void *arg, const mg_progress *p), void *arg,
		      char *why, size_t cap)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	int fds[2] = { fd, fd2 }, nfd = fd2 >= 0 ? 2 : 1;
	struct sockaddr_un a;
	struct msghdr m = { 0 };
	struct iovec iov;
	socklen_t alen;
	json_t *msg = json_pack("{s:s, s:O}", "token", token, "req", req), *resp = NULL;
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL, *line;
	size_t tl;
	int s = -1, rc;

	json_decref(msg);
	if (!text) {
		snprintf(why, cap, "%s", strerror(ENOMEM));
		return NULL;
	}
	tl = strlen(text);
	text[tl++] = '\n';   /* json_dumps' NUL makes room */
	if (name_addr(name, &a, &alen) < 0) {
		snprintf(why, cap, "the daemon named no channel ('%s')", name);
		goto out;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(s, (struct sockaddr *)&a, alen) < 0) {
		snprintf(why, cap, "the daemon's channel %s: %s (heapctl must run in the "
			 "daemon's network namespace)", name, strerror(errno));
		goto out;
	}
	iov.iov_base = text;
	iov.iov_len = 1;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.space;
	m.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
	CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, (size_t)nfd * sizeof(int));
	if (sendmsg(s, &m, MSG_NOSIGNAL) != 1 || send_all(s, text + 1, tl - 1) < 0) {
		snprintf(why, cap, "sending the request: %s", strerror(errno));
		goto out;
	}
	while ((rc = read_line(s, &line, NULL)) == 0 && line) {
		json_error_t jerr;
		json_t *got = json_loads(line, 0, &jerr), *p;

		free(line);
		if (!got)
			break;
		if ((p = json_object_get(got, "progress"))) {
			if (progress) {
				mg_progress pr = {
					(uint64_t)json_integer_value(json_object_get(p, "bytes")),
					(uint64_t)json_integer_value(json_object_get(p, "total")),
					(uint64_t)json_integer_value(json_object_get(p, "lines")),
					(uint64_t)json_integer_value(json_object_get(p, "lines_total")) };

				progress(arg, &pr);
			}
			json_decref(got);
			continue;
		}
		resp = got;
		break;
	}
	if (!resp)
		snprintf(why, cap, "the daemon closed the channel without an answer%s%s",
			 rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
out:
	if (s >= 0)
		close(s);
	free(text);
	return resp;
}
