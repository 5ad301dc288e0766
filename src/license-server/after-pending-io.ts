/**
 * Runs `f` once the I/O that is waiting has been read. The event loop runs the timers that fell
 * due before it reads the sockets again, so after this process was busy (a GC pause, a burst) an
 * answer, an acknowledgement or a heartbeat that came in time may be waiting unread when a
 * deadline's timer fires: a deadline judged in the timer would take this process's own stall for
 * the peer's. A deadline is judged here instead, after the poll phase (setImmediate).
 */
export function afterPendingIo(f: () => void): void {
  setImmediate(f);
}
