"""Settings for the whole test session, applied before any test module imports gRPC."""

from __future__ import annotations

import os

# The observability tests run an OTLP collector (a gRPC server) in the pytest process and start the
# services with subprocess.Popen (preexec_fn: PR_SET_PDEATHSIG), i.e. fork then exec. With gRPC's fork
# support on (its default), the child restarts gRPC's poller between fork and exec, Popen's close_fds
# closes the poller's epoll fd, and the child can die before exec ("epoll_wait error: Bad file
# descriptor", grpc/grpc#43055): a service that "exited" at start, 1 CI run in several. Nothing in
# the tests uses gRPC in a forked child, so fork support is off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
