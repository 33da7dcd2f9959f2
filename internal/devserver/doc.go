// Package devserver runs the Temporal half of `parry dev`: a real Temporal server
// and the Temporal Web UI inside the parry process, so a laptop needs no other
// service.
//
// StartTemporal starts the frontend, history, matching and worker services of
// go.temporal.io/server with one history shard, static membership and the SQLite
// persistence plugin. All state lives in <data dir>/temporal.db: the schema is
// created on the first start and the file is reused afterwards, so workflows
// started before a restart carry on after it. The file is guarded by a lock file
// (temporal.db.lock) so that two servers never share it, and checked (it opens, is
// Temporal's, passes SQLite's quick_check) before the server sees it. Namespace
// "default" is always registered. The server's logs go to an *slog.Logger, at warn
// and above unless asked otherwise, and its fatal errors become returned errors
// instead of ending the process.
//
// StartUI serves the Temporal Web UI (github.com/temporalio/ui-server/v2) pointed at
// that frontend.
//
// The frontend (default 127.0.0.1:7233) and the UI (127.0.0.1:8233) listen on fixed
// ports, Temporal's usual ones: workers, the temporal CLI and a browser tab must find
// them again after a restart, and the cluster records the frontend address in its
// database. The other services' ports are internal and chosen free on loopback at
// each start. Ports are checked before the server binds them, so a taken port is a
// clear error ("127.0.0.1:7233 is in use: …"), not the server's exit.
//
// A second server may start in the same process after Stop (tests do; see
// TestRestartResumesWorkflow). The server never closes some of its internal gRPC
// clients, so each start/stop cycle leaves about 30 idle goroutines behind; the
// system workers that would otherwise keep polling the frontend address after Stop
// (scanners, parent-close-policy worker) are switched off.
//
// This package imports the Temporal server (about 200 MB of dependencies, minutes to
// compile cold); only the CLI's dev command and end-to-end tests may import it.
package devserver
