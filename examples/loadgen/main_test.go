package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/examples/loadgen/load"
	"github.com/pyrehq/pyre/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseFlags(t *testing.T) {
	cfg, opts, err := parseFlags([]string{
		"-url", "ws://127.0.0.1:4000/socket", "-conns", "1000", "-rate", "500",
		"-topics", "room:{n}", "-topic-count", "100", "-joins", "2",
		"-push-event", "ping", "-push-payload", `{"seq":{seq}}`, "-push-rate", "1", "-duration", "30s",
		"-src-ips", "127.0.0.2-127.0.0.9", "-param", "user_id=u{i}", "-param", "token=a=b", "-json", "out.json",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Conns != 1000 || cfg.ConnectRate != 500 || cfg.TopicPattern != "room:{n}" || cfg.TopicCount != 100 ||
		cfg.JoinsPerConn != 2 || cfg.PushEvent != "ping" || string(cfg.PushPayload) != `{"seq":{seq}}` ||
		cfg.PushRate != 1 || cfg.Duration != 30*time.Second || len(cfg.SourceAddrs) != 8 || opts.jsonPath != "out.json" {
		t.Errorf("config %+v, options %+v", cfg, opts)
	}
	if want := (url.Values{"user_id": {"u{i}"}, "token": {"a=b"}}); !reflect.DeepEqual(cfg.Params, want) {
		t.Errorf("params %v, want %v", cfg.Params, want)
	}

	cfg, _, err = parseFlags([]string{"-topics", "room:lobby, room:other"}, io.Discard)
	if err != nil || !slices.Equal(cfg.Topics, []string{"room:lobby", "room:other"}) || cfg.TopicPattern != "" {
		t.Errorf("explicit topics: %q, %q, %v", cfg.Topics, cfg.TopicPattern, err)
	}
	for _, bad := range [][]string{{"-param", "novalue"}, {"-src-ips", "x"}, {"-conns", "x"}, {"extra"}} {
		if _, _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// startServer serves room:* (ping replies ok) on 127.0.0.1:0.
func startServer(t *testing.T) string {
	t.Helper()
	router := channel.NewRouter(anyone{})
	router.Channel("room:*", func() channel.Channel { return room{} })
	ep := transport.NewEndpoint(transport.Config{Logger: slog.New(slog.DiscardHandler)})
	ep.Socket("/socket", router)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ep, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-served
		_ = ep.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String() + "/socket"
}

type anyone struct{}

func (anyone) Connect(url.Values, channel.ConnectInfo) (channel.Assigns, error) {
	return channel.Assigns{}, nil
}
func (anyone) ID(channel.Assigns) string { return "" }

type room struct{}

func (room) Join(*channel.Socket, string, channel.Payload) (any, error) { return nil, nil }
func (room) HandleIn(_ *channel.Socket, _ string, p channel.Payload) (channel.Reply, error) {
	return channel.ReplyOK(p), nil
}

func TestCLI(t *testing.T) {
	srv := startServer(t)
	out := filepath.Join(t.TempDir(), "out.json")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout
	}{
		{"ok", []string{"-url", srv, "-conns", "6", "-topics", "room:{n}", "-topic-count", "3", "-joins", "2",
			"-push-event", "ping", "-push-payload", `{"seq":{seq}}`, "-push-rate", "20", "-duration", "200ms",
			"-src-ips", "127.0.0.2-3", "-json", out}, 0, "joins        attempted 12/12"},
		{"json on stdout", []string{"-url", srv, "-conns", "2", "-duration", "10ms", "-json", "-"}, 0, `"connected": 2`},
		{"join refused", []string{"-url", srv, "-conns", "2", "-topics", "nowhere:1", "-duration", "10ms"}, 1,
			"reply error: unmatched topic ×2"},
		{"connection refused", []string{"-url", "ws://127.0.0.1:1/socket", "-conns", "2", "-duration", "10ms"}, 1,
			"connection refused ×2"},
		{"bad config", []string{"-url", "ftp://x", "-duration", "10ms"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cliMain(context.Background(), append(tc.args, "-quiet"), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.want) {
				t.Errorf("exit %d, want %d; stdout want %q:\n%s\nstderr:\n%s", code, tc.code, tc.want, &stdout, &stderr)
			}
		})
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(b, &res); err != nil || res.Joins.OK != 12 || res.Pushes.Sent == 0 {
		t.Errorf("JSON file: %v\n%s", err, b)
	}
}
