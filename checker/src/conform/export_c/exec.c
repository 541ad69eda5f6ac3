/* ---- the control plane: uring_cmd (SQE128) on /dev/ublk-control ---------------------------- */

struct ctrl {
	int fd;
	struct ring ring;
	uint64_t next_ud;
};

static int ctrl_open(struct ctrl *c)
{
	c->fd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	c->next_ud = 1;
	int r = ring_setup(&c->ring, 8, IORING_SETUP_SQE128);
	if (r < 0)
		close(c->fd);
	return r;
}

static void ctrl_close(struct ctrl *c)
{
	ring_close(&c->ring);
	close(c->fd);
}

#define TIMED_OUT (-100000) /* no CQE within the bound: the command stays in flight */
#define CTRL_FAILED (-100001) /* a syscall of the control ring failed: no result */

/* One control command; `buf` (len bytes) is copied to a buffer the command owns (leaked if the
 * command times out: the kernel may still write it). Returns cqe->res, TIMED_OUT or CTRL_FAILED. */
static int ctrl_cmd(struct ctrl *c, uint32_t op, uint32_t dev_id, uint64_t data0, void *buf,
		    uint16_t len, int timeout_ms)
{
	void *own = NULL;
	struct ublksrv_ctrl_cmd cmd = {dev_id, 0xffff, 0, 0, {data0}, 0, 0, 0};
	if (buf) {
		own = malloc(len);
		if (!own)
			return CTRL_FAILED;
		memcpy(own, buf, len);
		cmd.addr = (uint64_t)(uintptr_t)own;
		cmd.len = len;
	}
	uint64_t ud = c->next_ud++;
	uint8_t *sqe = ring_sqe(&c->ring);
	if (!sqe)
		return CTRL_FAILED;
	sqe[0] = IORING_OP_URING_CMD;
	*(int32_t *)(sqe + 4) = c->fd;
	*(uint32_t *)(sqe + 8) = op;
	*(uint64_t *)(sqe + 32) = ud;
	memcpy(sqe + 48, &cmd, sizeof(cmd));
	int r = ring_submit(&c->ring);
	if (r < 0)
		return CTRL_FAILED;
	int64_t deadline = now_ms() + timeout_ms;
	struct io_uring_cqe cqe;
	for (;;) {
		r = ring_wait(&c->ring, deadline, &cqe);
		if (r < 0)
			return CTRL_FAILED;
		if (r == 0)
			return TIMED_OUT;
		if (cqe.user_data != ud)
			continue; /* late completion of an earlier timed-out command */
		if (buf)
			memcpy(buf, own, len);
		free(own);
		return cqe.res;
	}
}

static int ctrl_simple(struct ctrl *c, uint32_t op, uint32_t dev_id, uint64_t data0, int ms)
{
	return ctrl_cmd(c, op, dev_id, data0, NULL, 0, ms);
}

/* ---- the run: the parent process ------------------------------------------------------------ */

static int step_ms = STEP_TIMEOUT_MS;
static int dev_id = -1, ev_wr = -1, ev_rd = -1, holder = -1;
static int done_set[NSTEPS], done_res[NSTEPS];
static int reply_set[NSTEPS], reply_val[NSTEPS], reply_has[NSTEPS], reply_err[NSTEPS];
static int last_cmd[NTHREADS][DEPTH], last_ref[NTHREADS];
static int del_step = -1;
/* server_pid: the pid as spawned, kept after the process is reaped (START_DEV and
 * END_USER_RECOVERY name the server in data[0], dead or alive; 0 there is -EINVAL) */
struct proc {
	pid_t pid;
	int cmd_wr, msg_rd, gone, cdev_fd;
	pid_t server_pid;
};
static struct proc procs[2] = {{0, -1, -1, 0, -1, 0}, {0, -1, -1, 0, -1, 0}};

static void absorb(const struct msg *m)
{
	if (m->kind == M_REPLY) {
		reply_set[m->step] = 1;
		reply_val[m->step] = m->val;
		reply_has[m->step] = m->has_val;
		reply_err[m->step] = m->err;
	} else if (m->kind != M_READY) {
		done_set[m->step] = 1;
		done_res[m->step] = m->val;
	}
}

/* Take every message already delivered, after waiting at most `ms` for the first one (0: do
 * not wait). The read ends are non-blocking. */
static void pump(int ms)
{
	struct pollfd fds[3] = {{ev_rd, POLLIN, 0}, {procs[0].msg_rd, POLLIN, 0},
				{procs[1].msg_rd, POLLIN, 0}};
	if (poll(fds, 3, ms) <= 0)
		return;
	for (int k = 0; k < 3; k++) {
		struct msg m;
		ssize_t n;
		if (fds[k].fd < 0)
			continue;
		while ((n = read(fds[k].fd, &m, sizeof(m))) == sizeof(m))
			absorb(&m);
		if (n == 0 && k > 0) { /* the server process exited */
			close(procs[k - 1].msg_rd);
			procs[k - 1].msg_rd = -1;
			procs[k - 1].gone = 1;
		}
	}
}

/* Wait until cond holds, at most `ms`. */
#define WAIT_FOR(ms, cond)                                                                       \
	({                                                                                       \
		int64_t dl_ = now_ms() + (ms);                                                   \
		pump(0);                                                                         \
		while (!(cond) && now_ms() < dl_)                                                \
			pump((int)(dl_ - now_ms()));                                             \
		(cond);                                                                          \
	})

/* what a step saw: done (with a result or not), pending, no completion, executor error */
enum got_kind { G_DONE, G_DONE_NONE, G_PENDING, G_HANG, G_ERROR };
struct got {
	int kind, res;
	const char *err;
};
static struct got done_or(int ref, int pending)
{
	if (done_set[ref])
		return (struct got){G_DONE, done_res[ref], 0};
	return (struct got){pending ? G_PENDING : G_HANG, 0, 0};
}

/* wait for a ref predicted done; a ref predicted pending is only checked now */
static struct got observe(int ref, struct expect e)
{
	if (e.kind == X_PENDING)
		pump(0);
	else
		WAIT_FOR(step_ms, done_set[ref]);
	return done_or(ref, e.kind == X_PENDING);
}

static struct got exec_error(int e)
{
	return (struct got){G_ERROR, 0, errs[e]};
}

/* ---- block clients and control commands on threads of their own ---------------------------- */

struct job {
	int step, op, pid, poll_busy;
};

/* Pin this thread to the first CPU of hw queue q (blk-mq maps a bio to the hw queue of the
 * submitting CPU): 0, or -errno (the bio's result: an error of the program, not the kernel's). */
static int pin_to_queue(int q)
{
	char path[96], list[64] = "";
	snprintf(path, sizeof(path), "/sys/block/ublkb%d/mq/%d/cpu_list", dev_id, q);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int ok = fgets(list, sizeof(list), f) != NULL;
	fclose(f);
	int cpu = ok ? atoi(list) : -1; /* "0", "0-1", "0,2": the first */
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static void *bio_thread(void *arg)
{
	struct job *j = arg;
	char path[64];
	snprintf(path, sizeof(path), "/dev/ublkb%d", dev_id);
	int res = NR_QUEUES > 1 ? pin_to_queue(threads[steps[j->step].thread].queue) : 0;
	int fd = res ? res : open_node(path, O_DIRECT, 1000);
	if (fd < 0) {
		res = fd;
	} else {
		void *b;
		if (posix_memalign(&b, 4096, IO_BYTES))
			abort();
		memset(b, 0, IO_BYTES);
		ssize_t n = j->op == A_WRITE ? pwrite(fd, b, IO_BYTES, 0) : pread(fd, b, IO_BYTES, 0);
		res = n < 0 ? -errno : n == IO_BYTES ? 0 : -EIO;
		close(fd);
		free(b);
	}
	send_msg(ev_wr, M_BIO, j->step, res, 1, 0);
	return NULL;
}

static void *ctrl_thread(void *arg)
{
	struct job *j = arg;
	struct ctrl c;
	if (ctrl_open(&c) < 0)
		return NULL;
	int64_t poll_until = now_ms() + step_ms;
	int r;
	/* a long bound: the command is abandoned (not waited for) after the step timeout */
	while ((r = ctrl_simple(&c, j->op, dev_id, j->pid, step_ms * 10)) == -EBUSY && j->poll_busy &&
	       now_ms() < poll_until)
		sleep_ms(2); /* a recovery tool polling the kernel until the old server is gone */
	ctrl_close(&c);
	if (r > TIMED_OUT)
		send_msg(ev_wr, M_CTRL, j->step, r, 1, 0);
	return NULL;
}

static void spawn(void *(*fn)(void *), int step, int op, int pid, int poll_busy)
{
	static struct job jobs[NSTEPS];
	jobs[step] = (struct job){step, op, pid, poll_busy};
	pthread_t t;
	if (pthread_create(&t, NULL, fn, &jobs[step]) || pthread_detach(t))
		abort();
}

/* ---- server processes --------------------------------------------------------------------- */

static int has_servers(int p)
{
	for (int t = 0; t < NTHREADS; t++)
		if (threads[t].kind == T_SERVER && threads[t].process == p)
			return 1;
	return 0;
}

/* fork server process p and wait until every thread is set up */
static int spawn_proc(int p)
{
	int cmd[2], msg[2];
	if (pipe2(cmd, O_CLOEXEC) || pipe2(msg, O_CLOEXEC) || fcntl(msg[0], F_SETFL, O_NONBLOCK))
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		serve_child(p, dev_id, cmd[0], msg[1]);
	close(cmd[0]);
	close(msg[1]);
	procs[p] = (struct proc){pid, cmd[1], msg[0], 0, -1, pid};
	int64_t deadline = now_ms() + (step_ms > 5000 ? step_ms : 5000);
	struct pollfd f = {msg[0], POLLIN, 0};
	struct msg m;
	while (now_ms() < deadline && poll(&f, 1, (int)(deadline - now_ms())) > 0) {
		if (read(msg[0], &m, sizeof(m)) != sizeof(m))
			break;
		if (m.kind == M_READY) {
			procs[p].cdev_fd = m.val;
			return 0;
		}
		absorb(&m);
	}
	return -1;
}

static void reap(int p)
{
	if (procs[p].pid > 0) {
		kill(procs[p].pid, SIGKILL);
		waitpid(procs[p].pid, NULL, 0);
		procs[p].pid = 0;
	}
	if (procs[p].cmd_wr >= 0)
		close(procs[p].cmd_wr);
	procs[p].cmd_wr = -1;
}

/* After the server process is gone: wait (at most 500 ms) until the device leaves LIVE. The
 * model settles the teardown the exit starts within the exit; the kernel runs it in kworkers. */
static void wait_teardown(void)
{
	struct ctrl c;
	if (ctrl_open(&c) < 0)
		return;
	int64_t deadline = now_ms() + 500;
	while (now_ms() < deadline) {
		struct ublksrv_ctrl_dev_info info;
		memset(&info, 0, sizeof(info));
		int r = ctrl_cmd(&c, UBLK_U_CMD_GET_DEV_INFO, dev_id, 0, &info, sizeof(info), 500);
		if (r != 0 || info.state != UBLK_S_DEV_LIVE)
			break;
		sleep_ms(2);
	}
	ctrl_close(&c);
	pump(0);
}

static struct got wait_gone(int p)
{
	if (!WAIT_FOR(step_ms, procs[p].gone))
		return (struct got){G_HANG, 0, 0};
	reap(p);
	wait_teardown();
	return (struct got){G_DONE_NONE, 0, 0};
}

static int send_step(int i)
{
	int p = threads[steps[i].thread].process & 1;
	int32_t v = i;
	return procs[p].cmd_wr >= 0 && write(procs[p].cmd_wr, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}
