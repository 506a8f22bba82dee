package transport

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/telemetry"
)

// accept runs what every transport does before a connection exists: the vsn query parameter picks the
// serializer (the socket's table, WithSerializers), the Origin header is checked, the socket's Connect runs, and a closing endpoint refuses.
// A refusal is ErrShuttingDown while shutting down, else a *refusal with the HTTP status to answer: 403 for
// a bad vsn, a refused origin or a refused Connect (RefuseError.Status when set).
// took is how long Connect ran (measured only when telemetry's SocketConnected is observed); a refusal by
// Connect or by a closing endpoint is reported to it here.
func (d *socketDef) accept(r *http.Request, transport, authToken string) (ser *codec, connected *host.Connected, took time.Duration, err error) {
	ep := d.ep
	query := r.URL.Query()
	// Absent means 1.0.0; present, it must be one non-empty string (vsn[]=… is a list to Phoenix).
	vsn, present, one := queryParam(r.URL.RawQuery, "vsn")
	if !one || (present && vsn == "") {
		return nil, nil, 0, &refusal{http.StatusForbidden}
	}
	ser = d.negotiate(vsn)
	if ser == nil {
		return nil, nil, 0, &refusal{http.StatusForbidden}
	}
	if !checkOrigin(ep.cfg.CheckOrigin, r) {
		return nil, nil, 0, &refusal{http.StatusForbidden}
	}
	var start time.Time
	if ep.ev.SocketConnected != nil {
		start = time.Now()
	}
	connected, err = host.Connect(d.router, query, connectInfo(r, transport, authToken))
	if !start.IsZero() {
		took = time.Since(start)
	}
	if err != nil {
		status := http.StatusForbidden
		var refuse *channel.RefuseError
		if errors.As(err, &refuse) && refuse.Status != 0 {
			status = refuse.Status
		}
		result := telemetry.ResultError
		var crash *channel.CrashError
		if errors.As(err, &crash) {
			ep.cfg.Logger.Error("pyre: connect crashed", "reason", crash.Value)
			result = telemetry.ResultCrash
		}
		ep.connected(nil, transport, ser, took, result)
		return nil, nil, 0, &refusal{status}
	}
	if ep.isClosing() || ep.host.Err() != nil {
		ep.connected(nil, transport, ser, took, telemetry.ResultError)
		return nil, nil, 0, ErrShuttingDown
	}
	return ser, connected, took, nil
}

// refusal is a connection refused before it existed, answered with an HTTP status.
type refusal struct{ status int }

func (r *refusal) Error() string {
	return "transport: connection refused: " + http.StatusText(r.status)
}

// parseSubprotocols finds "phoenix" and the auth token among the subprotocols offered in the first
// Sec-WebSocket-Protocol header: gws negotiates from that one, and Phoenix reads only it. As Phoenix, a token
// is taken only from a single bearer entry: several are no token.
func parseSubprotocols(values []string) (phoenix bool, token string) {
	if len(values) == 0 {
		return false, ""
	}
	bearers := 0
	for p := range strings.SplitSeq(values[0], ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "phoenix":
			phoenix = true
		case strings.HasPrefix(p, bearerPrefix):
			bearers++
			enc := strings.TrimRight(p[len(bearerPrefix):], "=")
			if b, err := base64.RawStdEncoding.DecodeString(enc); err == nil {
				token = string(b)
			} else if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
				token = string(b)
			}
		}
	}
	if bearers != 1 {
		token = ""
	}
	return phoenix, token
}

// queryParam returns the connect parameter key of rawQuery as Phoenix reads it, through Plug's query
// decoding (Plug.Conn.Query): of several "key=v" the last wins, and "key[]=v" or "key[k]=v" makes the value a
// list or a map, which stands where the first such pair stands (Plug's decode_each and decode_done). one is
// false when that list or map wins (not one string); present is false when key does not occur. A pair that
// does not unescape is skipped, as url.ParseQuery does (Plug refuses the whole request with 400).
func queryParam(rawQuery, key string) (value string, present, one bool) {
	var nested, seenNested bool
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if !strings.HasPrefix(k, key) && !strings.ContainsAny(k, "%+") {
			continue
		}
		k, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		switch {
		case k == key:
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
			value, present, nested = v, true, false
		case !seenNested && len(k) > len(key)+1 && strings.HasPrefix(k, key) && k[len(key)] == '[' && k[len(k)-1] == ']':
			value, present, nested, seenNested = "", true, true, true
		}
	}
	return value, present, !nested
}
