/*
 * chan.c - the daemon's end of the data channel (cmd/chan.c has the
 * protocol): an abstract Unix socket only this daemon listens on, one-time
 * tokens handed out through .heapfs/ctl (so only who may use the mount
 * may use the channel, with the identity the kernel gave that request),
 * and a thread per streaming command, which reads or writes the
 * descriptor heapctl sent with it.  At unmount the commands still running
 * are cancelled (their I/O gives up within 250 ms) and waited for before
 * the store closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#define TOKENS_MAX 64
#define TOKEN_TTL_NS (30ull * 1000000000u)
#define CONNS_MAX 32

struct chan_token {
	char hex[33];
	cmd_caller who;
	uint64_t expires_ns;
};

struct fs_chan {
	struct fs *fs;
	int listen_fd;
	char name[64];
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int active;                       /* connection threads; lock */
	struct chan_token tokens[TOKENS_MAX];   /* lock */
	size_t n_tokens;
};

struct chan_conn {
	struct fs_chan *ch;
	int sock;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A failure answered to heapctl, like cmd_exec()'s. */
static json_t *conn_fail(int err, const char *why)
{
	return json_pack("{s:b, s:i, s:s}", "ok", 0, "errno", err, "error", why);
}


json_t *fs_chan_open(struct fs *fs, const cmd_caller *who)
{
	struct fs_chan *ch = fs->chan;
	uint8_t raw[16];
	struct chan_token *t;
	uint64_t now = now_ns();
	json_t *resp;

	/* The mount does not start without its channel, which closes after
	 * the unmount: only a request racing the end finds none. */
	if (!ch)
		return conn_fail(ESHUTDOWN, "the daemon is stopping: its data channel is closed");
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return conn_fail(EIO, "getrandom failed");
	pthread_mutex_lock(&ch->lock);
	/* Expired tokens go; past the bound, the oldest gives way. */
	for (size_t i = 0; i < ch->n_tokens;) {
		if (ch->tokens[i].expires_ns < now)
			ch->tokens[i] = ch->tokens[--ch->n_tokens];
		else
			i++;
	}
	if (ch->n_tokens == TOKENS_MAX)
		memmove(ch->tokens, ch->tokens + 1, --ch->n_tokens * sizeof(ch->tokens[0]));
	t = &ch->tokens[ch->n_tokens++];
	for (int i = 0; i < 16; i++)
		snprintf(t->hex + 2 * i, 3, "%02x", raw[i]);
	t->who = *who;
	t->expires_ns = now + TOKEN_TTL_NS;
	resp = json_pack("{s:b, s:s, s:s}", "ok", 1, "socket", ch->name, "token", t->hex);
	pthread_mutex_unlock(&ch->lock);
	return resp;
}

/* Take token @hex: the identity it was given to, once. */
static bool token_take(struct fs_chan *ch, const char *hex, cmd_caller *who)
{
	bool found = false;

	pthread_mutex_lock(&ch->lock);
	for (size_t i = 0; i < ch->n_tokens && !found; i++) {
		if (strcmp(ch->tokens[i].hex, hex) != 0)
			continue;
		found = ch->tokens[i].expires_ns >= now_ns();
		*who = ch->tokens[i].who;
		ch->tokens[i] = ch->tokens[--ch->n_tokens];
	}
	pthread_mutex_unlock(&ch->lock);
	return found;
}

static void conn_progress(void *arg, const mg_progress *p)
{
	struct chan_conn *c = arg;
	json_t *msg = json_pack("{s:{s:I, s:I, s:I, s:I}}", "progress", "bytes",
				(json_int_t)p->bytes, "total", (json_int_t)p->total, "lines",
				(json_int_t)p->lines, "lines_total", (json_int_t)p->lines_total);

	if (msg)
		(void)cmd_chan_send(c->sock, msg);
	json_decref(msg);
}

/*
 * The heap file's dirty mapped pages, written back: sync_file_range() on
 * it through this very mount makes the kernel write back only the dirty
 * pages (their writepage requests come to this daemon's other threads),
 * keeps the clean ones cached, and, unlike fsync(), asks the daemon for no
 * store sync of its own.  Invalidating the file's pages would launder them
 * too but drop the whole cache (55-70 ms for 1 GiB cached here): that is
 * the fallback if the file does not open (the daemon may not read the
 * heap).  After the lease expired the write-back is refused, and the
 * writer's msync() reports it.  With the file open nowhere there is
 * nothing to write back (a close writes its dirty pages back before its
 * release reaches us; a mapping keeps the file open), and opening it
 * through the mount cost 0.2-6 ms a time, twice per migration.
 */
static void conn_flush_mapped(uint64_t heap_id, const char *name, void *payload)
{
	struct fs *fs = payload;
	char path[PATH_MAX];
	int fd = -1;

	if (!fs_heap_file_open(fs, heap_id))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/heap", fs->opts.mountpoint, name) <
	    sizeof(path))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fs_inval_heap(fs, heap_id, 0, 0);
		return;
	}
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) < 0 && errno != EIO && errno != EROFS)
		fs_inval_heap(fs, heap_id, 0, 0);
	close(fd);
}

static void *conn_main(void *arg)
{
	struct chan_conn *c = arg;
	struct fs_chan *ch = c->ch;
	struct timeval tv = { 5, 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	cmd_caller who;
	char token[40];
	json_t *req = NULL, *resp;
	int fd = -1, fd2 = -1, rc;

	/* The request comes at once or not at all. */
	setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((rc = cmd_chan_read_request(c->sock, &req, token, sizeof(token), &fd, &fd2)) < 0) {
		resp = conn_fail(EPROTO, "not a channel request");
	} else if (!token_take(ch, token, &who)) {
		resp = conn_fail(EACCES, "the channel's token is unknown, used or expired");
	} else if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
		   (cred.uid != 0 && cred.uid != who.uid)) {
		resp = conn_fail(EACCES, "the channel's token was given to another user");
	} else if (fd < 0) {
		resp = conn_fail(EBADF, "no descriptor came with the request");
	} else {
		cmd_hooks hooks = { fs_heap_changed, ch->fs, true, &who, ch->fs->ckpt,
				    conn_flush_mapped, ch->fs->mem, ch->fs->space,
				    fs_heap_gone };
		mg_io io = { fd, fd2, c->sock, &ch->stop, conn_progress, c };

		resp = cmd_exec_stream(ch->fs->store, req, &io, &hooks);
	}
	if (fd >= 0)
		close(fd);   /* before the answer: a reader of send's stream sees its end */
	if (fd2 >= 0)
		close(fd2);
	if (resp)
		(void)cmd_chan_send(c->sock, resp);
	json_decref(resp);
	json_decref(req);
	close(c->sock);
	free(c);
	pthread_mutex_lock(&ch->lock);
	if (--ch->active == 0)
		pthread_cond_broadcast(&ch->idle);
	pthread_mutex_unlock(&ch->lock);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct fs_chan *ch = arg;

	while (!atomic_load(&ch->stop)) {
		int s = accept4(ch->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct chan_conn *c;
		pthread_attr_t attr;
		pthread_t t;

		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;   /* shut down at unmount */
		}
		pthread_mutex_lock(&ch->lock);
		if (ch->active >= CONNS_MAX || atomic_load(&ch->stop) ||
		    !(c = malloc(sizeof(*c)))) {
			pthread_mutex_unlock(&ch->lock);
			close(s);   /* heapctl reads no answer: "closed the channel" */
			continue;
		}
		c->ch = ch;
		c->sock = s;
		ch->active++;
		pthread_mutex_unlock(&ch->lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			close(s);
			free(c);
			pthread_mutex_lock(&ch->lock);
			ch->active--;
			pthread_mutex_unlock(&ch->lock);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

int fs_chan_start(struct fs *fs)
{
	struct fs_chan *ch = calloc(1, sizeof(*ch));
	uint8_t raw[8];
	int fd;

	if (!ch)
		return -ENOMEM;
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
		free(ch);
		return -EIO;
	}
	snprintf(ch->name, sizeof(ch->name), "@heapfs.%d.%02x%02x%02x%02x%02x%02x%02x%02x",
		 (int)getpid(), raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
	if ((fd = cmd_chan_listen(ch->name)) < 0) {
		free(ch);
		return fd;
	}
	ch->fs = fs;
	ch->listen_fd = fd;
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->idle, NULL);
	if (pthread_create(&ch->thread, NULL, accept_main, ch) != 0) {
		close(fd);
		free(ch);
		return -EAGAIN;
	}
	fs->chan = ch;
	return 0;
}

void fs_chan_stop(struct fs *fs)
{
	struct fs_chan *ch = fs->chan;

	if (!ch)
		return;
	atomic_store(&ch->stop, true);
	shutdown(ch->listen_fd, SHUT_RDWR);   /* wakes accept() */
	pthread_join(ch->thread, NULL);
	close(ch->listen_fd);
	pthread_mutex_lock(&ch->lock);
	while (ch->active)
		pthread_cond_wait(&ch->idle, &ch->lock);
	pthread_mutex_unlock(&ch->lock);
	pthread_mutex_destroy(&ch->lock);
	pthread_cond_destroy(&ch->idle);
	fs->chan = NULL;
	free(ch);
}
