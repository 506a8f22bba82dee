package transport

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/host"
)

// accept runs what every transport does before a connection exists: the vsn query parameter picks the
// serializer (the socket's table, WithSerializers), the Origin header is checked, the socket's Connect runs, and a closing endpoint refuses.
// A refusal is ErrShuttingDown while shutting down, else a *refusal with the HTTP status to answer: 403 for
// a bad vsn, a refused origin or a refused Connect (RefuseError.Status when set).
func (d *socketDef) accept(r *http.Request, transport, authToken string) (*codec, *host.Connected, error) {
	ep := d.ep
	query := r.URL.Query()
	// Absent means 1.0.0; present, it must be one non-empty string (vsn[]=… is a list to Phoenix).
	vsn, present, one := queryParam(r.URL.RawQuery, "vsn")
	if !one || (present && vsn == "") {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	ser := d.negotiate(vsn)
	if ser == nil {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	if !checkOrigin(ep.cfg.CheckOrigin, r) {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	connected, err := host.Connect(d.router, query, connectInfo(r, transport, authToken))
	if err != nil {
		status := http.StatusForbidden
		var refuse *channel.RefuseError
		if errors.As(err, &refuse) && refuse.Status != 0 {
			status = refuse.Status
		}
		var crash *channel.CrashError
		if errors.As(err, &crash) {
			ep.cfg.Logger.Error("pyre: connect crashed", "reason", crash.Value)
		}
		return nil, nil, &refusal{status}
	}
	if ep.isClosing() || ep.host.Err() != nil {
		return nil, nil, ErrShuttingDown
	}
	return ser, connected, nil
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
