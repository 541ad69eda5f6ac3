/* ---- the server process ------------------------------------------------------------------
 * A child of the program (fork), so that exit_group and SIGKILL of the server are real. It
 * opens /dev/ublkcN, maps the descriptors and runs one thread per server thread of its process,
 * each with its own io ring. The parent sends step numbers over a pipe; every thread polls its
 * command pipe and its ring's eventfd, so each CQE is reported as it arrives. */

enum msg_kind { M_READY, M_CQE, M_REPLY, M_BIO, M_CTRL };
/* one message (20 bytes: written whole, atomically, by any thread) */
struct msg {
	int32_t kind, step, val, has_val, err; /* err: an index into errs[] (0 = none) */
};
static const char *const errs[] = {
	"",
	"ring already closed",
	"the closed ring's fd was reused",
	"io_uring_enter on the closed fd succeeded",
	"io SQ full",
	"io_uring_enter (submit) failed",
	"fixed I/O did not complete",
	"no server thread for this step",
	"nothing to wait for",
	"server process is gone",
	"not an action of this thread",
};
enum { E_CLOSED = 1, E_REUSED, E_ENTER_OK, E_SQ_FULL, E_SUBMIT, E_FIXED, E_NO_THREAD, E_NOTHING,
       E_GONE, E_BAD_ACT };

/* the descriptor array of each queue, mapped read-only from /dev/ublkcN */
static volatile struct ublksrv_io_desc *srv_desc[NR_QUEUES];

static void send_msg(int fd, int kind, int step, int val, int has_val, int err)
{
	struct msg m = {kind, step, val, has_val, err};
	if (write(fd, &m, sizeof(m)) != sizeof(m))
		_exit(3);
}

struct server {
	int thread, fixed, cmd_rd, cmd_wr, msg_wr, cdev;
	int ready_wr, queue;
};

/* Drop CAP_SYS_ADMIN (threads created later inherit it): a kernel probes partitions at
 * START_DEV only when every queue's daemon is privileged, and a probe is a read the program
 * does not contain. */
static int drop_sys_admin(void)
{
	struct {
		uint32_t version;
		int pid;
	} h = {0x20080522, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} d[2];
	if (syscall(SYS_capget, &h, d))
		return -errno;
	uint32_t bit = 1U << 21;
	d[0].effective &= ~bit;
	d[0].permitted &= ~bit;
	d[0].inheritable &= ~bit;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* io_uring_enter on the number of a ring fd this thread closed: the syscall's -errno (-EBADF)
 * is the command's result. Nothing in the server process opens a file once its threads are set
 * up, so the number must still be free. */
static int enter_closed(int fd, int *res)
{
	if (fcntl(fd, F_GETFD) >= 0)
		return E_REUSED;
	int r = ring_enter(fd, 1, 0, 0, NULL, 0);
	if (r >= 0)
		return E_ENTER_OK;
	*res = r;
	return 0;
}

static void push_uring_cmd(struct server *s, uint8_t *sqe, uint32_t op, int tag,
			   int result, uint64_t addr, uint64_t sqe_addr, int step)
{
	struct ublksrv_io_cmd c = {(uint16_t)s->queue, (uint16_t)tag, result, addr};
	sqe[0] = IORING_OP_URING_CMD;
	if (s->fixed) {
		sqe[1] = IOSQE_FIXED_FILE;
		*(int32_t *)(sqe + 4) = 0;
	} else {
		*(int32_t *)(sqe + 4) = s->cdev;
	}
	*(uint32_t *)(sqe + 8) = op;
	*(uint64_t *)(sqe + 16) = sqe_addr;
	*(uint64_t *)(sqe + 32) = (uint64_t)step;
	memcpy(sqe + 48, &c, sizeof(c));
}

/* READ/WRITE_FIXED of 4 KiB with buffer `idx`: read /dev/zero into a READ request's buffer,
 * write a WRITE request's buffer to /dev/null (`write`: the direction of the request the
 * model says is registered at `idx`) */
static void push_fixed(uint8_t *sqe, int idx, int write, int zero, int null, int step)
{
	sqe[0] = write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
	*(int32_t *)(sqe + 4) = write ? null : zero;
	*(uint32_t *)(sqe + 24) = IO_BYTES;
	*(uint64_t *)(sqe + 32) = (uint64_t)step;
	*(uint16_t *)(sqe + 40) = (uint16_t)idx;
}

struct joiner {
	pthread_t th;
	int msg_wr;
};

/* A thread exit is reported once the thread is gone, not when it decides to go: until its last
 * return to user space the kernel may run a dispatch's task work on it as on any live server
 * thread (the request then belongs to a ring nobody reads). pthread_join returns after the
 * kernel cleared the thread's tid in exit_mm, PF_EXITING set: a later dispatch is aborted. */
static void *join_thread(void *arg)
{
	struct joiner *j = arg;
	void *ret = NULL;
	if (pthread_join(j->th, &ret) == 0 && ret)
		send_msg(j->msg_wr, M_REPLY, (int)((intptr_t)ret - 1), 0, 0, 0);
	return NULL;
}

static void *server_thread(void *arg)
{
	struct server *s = arg;
	struct ring ring;
	int efd = -1, ok = ring_setup(&ring, 32, 0) == 0;
	if (ok && s->fixed)
		ok = ring_register(&ring, IORING_REGISTER_FILES, &s->cdev, 1) == 0;
	if (ok && TABLE_SIZE > 0) {
		struct io_uring_rsrc_register rr = {TABLE_SIZE, IORING_RSRC_REGISTER_SPARSE, 0, 0, 0};
		ok = ring_register(&ring, IORING_REGISTER_BUFFERS2, &rr, sizeof(rr)) == 0;
	}
	if (ok) {
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ok = efd >= 0 && ring_register(&ring, IORING_REGISTER_EVENTFD, &efd, 1) == 0;
	}
	void *bufs[DEPTH];
	for (int t = 0; ok && t < DEPTH; t++) {
		ok = posix_memalign(&bufs[t], 4096, BUF_BYTES) == 0;
		if (ok)
			memset(bufs[t], 0, BUF_BYTES);
	}
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char c = ok ? 1 : 0;
	if (write(s->ready_wr, &c, 1) != 1 || !ok)
		return NULL;
	int open_ring = 1, closed_fd = -1;
	struct io_uring_cqe cqe;
	for (;;) {
		struct pollfd fds[2] = {{s->cmd_rd, POLLIN, 0}, {efd, POLLIN, 0}};
		/* blocks until a command or a CQE; task work of this thread (ublk dispatch) runs
		 * when the kernel interrupts the wait */
		if (poll(fds, 2, -1) < 0)
			continue;
		uint64_t v; /* reset the eventfd (non-blocking: nothing to read is fine) */
		if (read(efd, &v, sizeof(v)) < 0)
			v = 0;
		while (open_ring && ring_peek(&ring, &cqe))
			send_msg(s->msg_wr, M_CQE, (int)cqe.user_data, cqe.res, 1, 0);
		int32_t i;
		while (read(s->cmd_rd, &i, sizeof(i)) == sizeof(i)) {
			const struct step *st = &steps[i];
			if (st->act == A_THREAD_EXIT) {
				/* the thread exits; its ring fd stays open in the process. Its
				 * joiner replies once it is gone (join_thread) */
				return (void *)(intptr_t)(i + 1);
			}
			if (st->act == A_CLOSE_RING) {
				if (open_ring) {
					closed_fd = ring.fd;
					ring_close(&ring);
					open_ring = 0;
				}
				send_msg(s->msg_wr, M_REPLY, i, 0, 0, 0);
				continue;
			}
			int is_cmd = st->act <= A_BAD_TYPE;
			if (!open_ring) {
				int res = 0, e = closed_fd >= 0 && is_cmd ? enter_closed(closed_fd, &res)
									    : E_CLOSED;
				if (!e)
					send_msg(s->msg_wr, M_CQE, i, res, 1, 0);
				send_msg(s->msg_wr, M_REPLY, i, 0, 0, e);
				continue;
			}
			if (st->act == A_USER_COPY) {
				/* pread/pwrite at byte `result` of the tag's user-copy range; idx: the
				 * direction (0: the request's — pwrite for a READ, pread for a WRITE;
				 * 1: pread; 2: pwrite) */
				int t = st->tag < DEPTH ? st->tag : DEPTH - 1;
				off_t pos = (off_t)(UBLKSRV_IO_BUF_OFFSET + ((uint64_t)s->queue << 41) +
						    ((uint64_t)st->tag << 25) + (uint64_t)(unsigned)st->result);
				size_t len = st->ulen ? (size_t)(st->ulen - 1) : IO_BYTES;
				if (len > BUF_BYTES)
					len = BUF_BYTES;
				int rd = st->idx ? st->idx == 1
						 : (srv_desc[s->queue][t].op_flags & 0xff) == UBLK_IO_OP_WRITE;
				ssize_t n = rd ? pread(s->cdev, bufs[0], len, pos)
					       : pwrite(s->cdev, bufs[0], len, pos);
				send_msg(s->msg_wr, M_REPLY, i, n < 0 ? -errno : (int)n, 1, 0);
				continue;
			}
			uint8_t *sqe = ring_sqe(&ring);
			if (!sqe) {
				send_msg(s->msg_wr, M_REPLY, i, 0, 0, E_SQ_FULL);
				continue;
			}
			uint64_t buf = st->buf && st->tag < DEPTH ? (uint64_t)(uintptr_t)bufs[st->tag] : 0;
			uint64_t auto_reg = AUTO_BUF_REG ? (uint64_t)st->tag | (uint64_t)AUTO_BUF_REG_FALLBACK << 16 : 0;
			switch (st->act) {
			case A_FETCH:
				push_uring_cmd(s, sqe, UBLK_U_IO_FETCH_REQ, st->tag, 0, buf, auto_reg, i);
				break;
			case A_COMMIT:
				push_uring_cmd(s, sqe, UBLK_U_IO_COMMIT_AND_FETCH_REQ, st->tag,
					       st->result, buf, auto_reg, i);
				break;
			case A_NEED_GET_DATA:
				push_uring_cmd(s, sqe, UBLK_U_IO_NEED_GET_DATA, st->tag, 0,
					       (uint64_t)(uintptr_t)bufs[st->tag], 0, i);
				break;
			case A_REGISTER:
				push_uring_cmd(s, sqe, UBLK_U_IO_REGISTER_IO_BUF, st->tag, 0, st->idx, 0, i);
				break;
			case A_UNREGISTER:
				push_uring_cmd(s, sqe, UBLK_U_IO_UNREGISTER_IO_BUF, st->tag, 0, st->idx, 0,
					       i);
				break;
			case A_BAD_TYPE:
				push_uring_cmd(s, sqe, BAD_TYPE_IO_CMD, st->tag, 0, 0, 0, i);
				break;
			case A_FIXED_IO:
				push_fixed(sqe, st->idx, st->buf, zero, null, i);
				break;
			default:
				ring.pending--;
				send_msg(s->msg_wr, M_REPLY, i, 0, 0, E_BAD_ACT);
				continue;
			}
			if (ring_submit(&ring) < 0) {
				send_msg(s->msg_wr, M_REPLY, i, 0, 0, E_SUBMIT);
				continue;
			}
			if (st->act == A_FIXED_IO) {
				/* fixed-buffer I/O on /dev/zero or /dev/null completes at once */
				int64_t deadline = now_ms() + 5000;
				int got = 0, val = 0;
				while (!got && ring_wait(&ring, deadline, &cqe) == 1) {
					if (cqe.user_data == (uint64_t)i)
						got = 1, val = cqe.res;
					else
						send_msg(s->msg_wr, M_CQE, (int)cqe.user_data, cqe.res, 1, 0);
				}
				send_msg(s->msg_wr, M_REPLY, i, val, got, got ? 0 : E_FIXED);
				continue;
			}
			while (ring_peek(&ring, &cqe))
				send_msg(s->msg_wr, M_CQE, (int)cqe.user_data, cqe.res, 1, 0);
			send_msg(s->msg_wr, M_REPLY, i, 0, 0, 0);
		}
	}
}

/* Open a device node, retrying while devtmpfs has not created it yet (nothing to wait on but
 * time). */
static int open_node(const char *path, int flags, int wait_ms)
{
	int64_t deadline = now_ms() + wait_ms;
	for (;;) {
		int fd = open(path, flags | O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || now_ms() >= deadline)
			return fd < 0 ? -errno : fd;
		sleep_ms(5);
	}
}

/* The server process `proc`: never returns. */
static void serve_child(int proc, int dev_id, int cmd_rd, int msg_wr)
{
	for (int fd = 3; fd < 1024; fd++)
		if (fd != cmd_rd && fd != msg_wr)
			close(fd);
	char path[64];
	snprintf(path, sizeof(path), "/dev/ublkc%d", dev_id);
	int cdev = open_node(path, 0, 2000);
	if (cdev < 0 || (!PRIVILEGED && drop_sys_admin()))
		_exit(1);
	long ps = sysconf(_SC_PAGESIZE);
	size_t len = (DEPTH * sizeof(struct ublksrv_io_desc) + ps - 1) / ps * ps;
	/* queue q's array starts at q times the largest array, rounded up to pages */
	off_t stride = (UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc) + ps - 1) / ps * ps;
	for (int q = 0; q < NR_QUEUES; q++) {
		void *d = mmap(0, len, PROT_READ, MAP_SHARED | MAP_POPULATE, cdev, q * stride);
		if (d == MAP_FAILED)
			_exit(1);
		srv_desc[q] = d;
	}
	struct server srv[NTHREADS];
	static struct joiner joiners[NTHREADS];
	int ready[2], n = 0;
	if (pipe(ready))
		_exit(1);
	for (int t = 0; t < NTHREADS; t++) {
		if (threads[t].kind != T_SERVER || threads[t].process != proc)
			continue;
		int p[2];
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
			_exit(1);
		srv[t] = (struct server){t,      threads[t].fixed_file, p[0], p[1], msg_wr, cdev,
					 ready[1], threads[t].queue};
		pthread_t th, jt;
		if (pthread_create(&th, NULL, server_thread, &srv[t]))
			_exit(1);
		joiners[t] = (struct joiner){th, msg_wr};
		if (pthread_create(&jt, NULL, join_thread, &joiners[t]))
			_exit(1);
		n++;
	}
	for (int k = 0; k < n; k++) {
		char c = 0;
		if (read(ready[0], &c, 1) != 1 || !c)
			_exit(1);
	}
	send_msg(msg_wr, M_READY, -1, cdev, 1, 0);
	int32_t i;
	while (read(cmd_rd, &i, sizeof(i)) == sizeof(i)) {
		int t = steps[i].thread;
		if (steps[i].act == A_EXIT)
			_exit(0); /* exit_group of the whole server process */
		if (threads[t].kind != T_SERVER || threads[t].process != proc ||
		    write(srv[t].cmd_wr, &i, sizeof(i)) != sizeof(i))
			send_msg(msg_wr, M_REPLY, i, 0, 0, E_NO_THREAD);
	}
	_exit(0); /* the parent is done with us */
}
