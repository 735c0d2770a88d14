"""A TCP proxy in front of the API server for the chaos soak: the
controllers' kubeconfig points at it, and the driver makes the API server
look slow or flaky through it. It passes the TLS bytes through untouched (the
API server's certificate is for 127.0.0.1, whatever the port), so it sees no
requests, only connections:

  set_delay(seconds)  every chunk, either way, waits that long before it is
                      forwarded (0: pass-through): a slow API server, and
                      watch streams that fall behind;
  cut()               closes every open connection at once (watches and
                      requests in flight break; new ones are accepted).

Python standard library only.
"""

import socket
import threading
import time


class Proxy:
    def __init__(self, target_host, target_port, listen_port=0):
        self.target = (target_host, target_port)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", listen_port))
        self.server.listen(128)
        self.port = self.server.getsockname()[1]
        self.delay = 0.0
        self.lock = threading.Lock()
        self.conns = set()
        self.stopping = False
        self.accepted = 0
        self.cuts = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.server.close()
        except OSError:
            pass
        self.cut()

    def set_delay(self, seconds):
        self.delay = float(seconds)

    def cut(self):
        with self.lock:
            conns, self.conns = list(self.conns), set()
            self.cuts += 1
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        return len(conns) // 2

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.update((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.delay > 0:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.conns.discard(src)
                self.conns.discard(dst)
            try:
                src.close()
            except OSError:
                pass
