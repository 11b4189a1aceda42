/*
 * killpriv.c - negotiate FUSE_HANDLE_KILLPRIV_V2, which Debian's libfuse
 * 3.14 does not know.
 *
 * Without it the kernel asks for security.capability (a GETXATTR round
 * trip) before every write, to strip file capabilities: heap directories
 * serve xattrs, so heapfs cannot answer ENOSYS and stop the asking.  With
 * it the kernel sets SB_NOSEC, and after one check per inode (again after
 * each attribute refresh) writes go straight out: one round trip per
 * write, as on passthrough_ll.  The flag promises that the filesystem
 * kills suid, sgid and capabilities on write, truncate and chown; heapfs
 * has none to kill (modes and owners follow the mount, and no security.*
 * attribute can be set), so the promise holds by construction.
 *
 * The session's I/O goes through libfuse's custom I/O hooks: plain read
 * and writev on the mount's descriptor, except that the INIT reply gets
 * the flag when the kernel offered it.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs_int.h"

/* The INIT request's unique id while its reply is due; 0 otherwise. */
static _Atomic uint64_t init_unique;

static ssize_t kp_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t r = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	if (r >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, flags) + sizeof(uint32_t)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);

		if (arg->flags & FUSE_HANDLE_KILLPRIV_V2)
			atomic_store(&init_unique, in->unique);
	}
	return r;
}

static ssize_t kp_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	uint64_t want = atomic_load(&init_unique);

	(void)userdata;
	/* libfuse sends a reply as the header, then the argument */
	if (want && count >= 2 && iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
		const struct fuse_out_header *out = iov[0].iov_base;

		if (out->unique == want && out->error == 0) {
			struct fuse_init_out *arg = iov[1].iov_base;

			arg->flags |= FUSE_HANDLE_KILLPRIV_V2;
			atomic_store(&init_unique, 0);
		}
	}
	return writev(fd, iov, count);
}

int fs_killpriv_setup(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = kp_read,
		.writev = kp_writev,
	};
	int rc = fuse_session_custom_io(se, &io, fuse_session_fd(se));

	return rc < 0 ? rc : 0;
}
