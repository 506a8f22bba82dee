package clustertest

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrsOutsideEphemeralRange(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[string]bool{}
	for _, a := range Addrs(t, "127.0.0.1", 50) {
		if seen[a] {
			t.Fatalf("%s returned twice", a)
		}
		seen[a] = true
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < lowest || (lo <= port && port <= hi) {
			t.Fatalf("%s: port inside [%d, %d] or below %d", a, lo, hi, lowest)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s not free: %v", a, err)
		}
		l.Close()
	}
}

func TestAddrSkipsTakenPorts(t *testing.T) {
	// Hold every port Addr returns: each next one must still be free.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 20 {
		a, err := Addr("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s not free: %v", a, err)
		}
		held = append(held, l)
	}
}

func TestAddrForeignHost(t *testing.T) {
	if a, err := Addr("192.0.2.1"); err == nil { // TEST-NET-1: never an address of this machine
		t.Fatalf("got %s for a host that is not ours", a)
	}
}
