// Command measure compares a Pyre endpoint with a raw-gws baseline server. `measure bench` (make bench)
// starts each server as a child process of its own binary (`measure server`), drives it with the same lean
// gws clients and payloads, and runs every scenario: memory per connection and per extra channel at
// several loads, fan-out latency and throughput to 1…10k subscribers of one topic and to many topics,
// push→reply latency of 1k and 10k clients pushing at a fixed rate (the loadgen library), and on demand
// (-scenarios attack) Pyre under a series of attacks next to a control client's echo latency. It
// prints one table with the pyre/gws ratio of each figure and writes it as Markdown and JSON with an SVG
// chart; -rounds repeats every step (medians), -profile-dir saves the servers' heap and CPU profiles.
// See README.md for how to run it and how to read the numbers.
//
//	measure bench [-quick] [-scenarios mem,fanout,reqrep] [-out bench-results] [-rounds 3] [-profile-dir DIR] [-observe]
//	measure server -kind pyre|gws|pyre+metrics -addr 127.0.0.1:0 [-pprof]
package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

func main() {
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  measure bench  [-quick] [-out bench-results] [-kinds pyre,gws] [-scenarios mem,fanout,reqrep]
                 [-rounds N] [-profile-dir DIR] [-observe] ...
                 every scenario, one table + .md/.json/.svg
  measure server -kind pyre|gws|pyre+metrics [-addr 127.0.0.1:0] [-pprof]
Run "measure bench -h" or "measure server -h" for every flag.
`

func cliMain(args []string, stdout, stderr io.Writer) int {
	raiseNoFile(stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "bench":
		return benchMain(args[1:], stdout, stderr)
	case "server":
		return serverMain(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "measure: unknown command %q\n%s", args[0], usage)
	return 2
}

// raiseNoFile raises RLIMIT_NOFILE's soft limit to the hard limit (on this machine both are 20,000; the
// os package does the same since Go 1.19, but the processes here must not depend on it).
func raiseNoFile(stderr io.Writer) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(stderr, "measure: getrlimit: %v\n", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintf(stderr, "measure: setrlimit: %v\n", err)
		}
	}
}

// noFileLimit returns the current soft RLIMIT_NOFILE (0 if unknown).
func noFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
