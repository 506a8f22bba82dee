package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pyrehq/pyre/actors/telemetry"
	"github.com/pyrehq/pyre/transport/metrics"
)

// observedKind is Pyre with observation on: transport/metrics fed by the endpoint's Events, served at
// GET /metrics and scraped by the driver every scrapeInterval, as Prometheus would. Measured beside
// pyre (-observe), it shows what metrics cost on the hot paths.
const (
	observedKind   = "pyre+metrics"
	scrapeInterval = time.Second
)

// serverMetrics makes the observed server's metrics on a registry of its own: the Events for
// transport.Config and the /metrics handler.
func serverMetrics() (telemetry.Events, http.Handler, error) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		return telemetry.Events{}, nil, err
	}
	return m.Events(), promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// scrapeStats counts the driver's scrapes of /metrics over the whole run.
type scrapeStats struct {
	Scrapes   int64  `json:"scrapes"`
	Failed    int64  `json:"failed"`
	LastBytes int64  `json:"last_bytes"` // size of the last answer
	FirstErr  string `json:"first_error,omitempty"`
}

// scraper counts every scrape of a run; its methods are safe for concurrent use.
type scraper struct {
	ok, failed, lastBytes atomic.Int64
	mu                    sync.Mutex
	firstErr              string
}

func (s *scraper) stats() scrapeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return scrapeStats{Scrapes: s.ok.Load(), Failed: s.failed.Load(), LastBytes: s.lastBytes.Load(), FirstErr: s.firstErr}
}

// scrape reads base/metrics once; it must hold Pyre's metrics.
func (s *scraper) scrape(ctx context.Context, hc *http.Client, base string) error {
	resp, err := call(ctx, hc, http.MethodGet, base+"/metrics")
	if err == nil {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err == nil && !bytes.Contains(body, []byte("pyre_connections")) {
			err = fmt.Errorf("GET %s/metrics: no pyre_connections in %d bytes", base, len(body))
		}
		s.lastBytes.Store(int64(len(body)))
	}
	if ctx.Err() != nil {
		return nil // stopped with its server: not a failure
	}
	if err != nil {
		s.failed.Add(1)
		s.mu.Lock()
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
		s.mu.Unlock()
		return err
	}
	s.ok.Add(1)
	return nil
}

// watch scrapes base/metrics once now (so a server without metrics fails its step at once), then every
// scrapeInterval until the returned stop, which waits for the scraping goroutine.
func (s *scraper) watch(ctx context.Context, base string) (stop func(), err error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	if err := s.scrape(ctx, hc, base); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(scrapeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.scrape(ctx, hc, base) // counted; the step goes on, as a server does when Prometheus fails
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// observeNote is the report's note on the scrapes ("" when no server was observed).
func observeNote(res *benchResults) string {
	s := res.Scrapes
	if s == nil {
		return ""
	}
	return fmt.Sprintf("%s: Pyre with transport/metrics on its Events, GET /metrics scraped every %s by the driver: %d scrapes (the last %d bytes), %d failed%s",
		observedKind, scrapeInterval, s.Scrapes, s.LastBytes, s.Failed, errSuffix(s.FirstErr))
}
