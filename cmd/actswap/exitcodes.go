package main

// The exit statuses of every actswap command, documented in `actswap --help` and the README.
//
// 2 is deliberately unused: the Go runtime exits with 2 when a program crashes (an unrecovered
// panic, or a fatal error such as running out of memory), and a crash must never read as one of
// the outcomes below.
const (
	exitOK            = 0 // the command did what was asked
	exitFailure       = 1 // bad input, bad flags, I/O errors: nothing (or nothing complete) written
	exitNothingToDo   = 3 // rewrite/calibrate found no site to replace; nothing written
	exitQualityFailed = 4 // a quality gate (--max-rel-l2, --min-agreement, ...) was missed; outputs are still written
)
