// Package upgrade hands a running ferry's listening sockets to a new ferry
// process, as MOSN's smooth upgrade does (docs/upgrade.md).
//
// The running ferry serves a unix socket, reconfig.sock in uds_dir (MOSN's
// name and field). A new `ferry start` dials it first: when nobody answers
// there (no file, or a stale file nobody listens on) it starts as usual;
// when a ferry answers, the new one asks for the listeners, receives every
// listening socket over the unix socket (SCM_RIGHTS), starts serving them,
// and says it is ready; the old ferry then stops accepting (the sockets
// stay open: the new process holds them), closes reconfig.sock, confirms,
// and drains and exits as on SIGTERM. The new ferry then serves
// reconfig.sock itself, for the next upgrade.
//
// The exchange is four messages on a SOCK_SEQPACKET unix socket (one JSON
// object per packet, so message boundaries and the descriptors attached
// to the second one arrive together):
//
//	new → old  {"op":"listeners","pid":N}
//	old → new  {"op":"listeners","pid":N,"listeners":[{"name":..,"address":..,"fds":K},..]} + SCM_RIGHTS
//	new → old  {"op":"ready","pid":N}
//	old → new  {"op":"done","pid":N}
//
// Until "ready" the old ferry has changed nothing: a new process that
// fails to start (or dies) leaves it serving as before, and it closes its
// copies of the descriptors it sent. Live connections are not moved (MOSN's
// conn.sock): the old ferry drains them.
//
// Goroutines: Serve runs one goroutine that answers one peer at a time;
// Dial and the Handover methods are for the caller's goroutine.
//
// Imports: the standard library only.
package upgrade
