/* The pause program of the real node's local image (tests/cluster/real-node):
 * the sandbox's init process and the pods' placeholder workload. It sleeps
 * until SIGTERM or SIGINT (then exits 0, so a pod stops at once instead of
 * waiting out its grace period) and reaps the children it inherits as PID 1
 * of its PID namespace. Built with `gcc -static`: the image has no libc. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {0};
  stop.sa_handler = on_stop;
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGTERM, &stop, NULL);
  struct sigaction child = {0};
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 0;
}
