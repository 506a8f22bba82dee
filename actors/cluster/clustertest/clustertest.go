// Package clustertest gives tests and local demos addresses for cluster nodes.
//
// A node's address must be known before it starts (its peers are told it), so the usual trick of
// binding port 0 and closing the listener leaves a gap: in that gap the kernel may give the same port to
// any other socket that binds port 0 or connects out, and the node then fails with "address already in
// use". Addr closes that gap by choosing ports outside the kernel's ephemeral range, which the kernel
// never hands out on its own.
package clustertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the lowest port Addr chooses: below it live well-known services.
const lowest = 10000

var (
	mu     sync.Mutex
	given  = map[string]bool{} // addresses this process has handed out: never twice
	errNot = errors.New("clustertest: no free port outside the ephemeral range")
)

// Addr returns "host:port" with a port that was free on host a moment ago, that lies outside the
// kernel's ephemeral port range, and that this process has not returned before.
func Addr(host string) (string, error) {
	lo, hi := ephemeralRange()
	var spans [][2]int // candidate ranges [from, to)
	if lo > lowest {
		spans = append(spans, [2]int{lowest, lo})
	}
	if hi < 65535 {
		spans = append(spans, [2]int{hi + 1, 65536})
	}
	if len(spans) == 0 {
		return "", errNot
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		s := spans[rand.IntN(len(spans))]
		addr := net.JoinHostPort(host, strconv.Itoa(s[0]+rand.IntN(s[1]-s[0])))
		if given[addr] {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken (or the host is not ours: the next tries say so below)
		}
		_ = l.Close()
		given[addr] = true
		return addr, nil
	}
	if _, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
		return "", fmt.Errorf("clustertest: %w", err)
	}
	return "", errNot
}

// Addrs returns n distinct Addrs on host, failing tb if there are none.
func Addrs(tb testing.TB, host string, n int) []string {
	tb.Helper()
	out := make([]string, n)
	for i := range out {
		a, err := Addr(host)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = a
	}
	return out
}

// ephemeralRange is the range the kernel binds port 0 and outgoing connections in: Linux's setting, or
// IANA's 49152–65535 (the BSDs' and macOS's default) where it cannot be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && 0 < l && l <= h && h <= 65535 {
				return l, h
			}
		}
	}
	return 49152, 65535
}
