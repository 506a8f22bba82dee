package transport

import (
	"errors"
	"net/http"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/transport/serializer"
)

// accept runs what every transport does before a connection exists: the vsn query parameter picks the
// serializer, the Origin header is checked, the socket's Connect runs, and a closing endpoint refuses.
// A refusal is ErrShuttingDown while shutting down, else a *refusal with the HTTP status to answer: 403 for
// a bad vsn, a refused origin or a refused Connect (RefuseError.Status when set).
func (d *socketDef) accept(r *http.Request, transport, authToken string) (serializer.Serializer, *channel.Connected, error) {
	ep := d.ep
	query := r.URL.Query()
	vsn := query["vsn"]
	if len(vsn) > 1 || (len(vsn) == 1 && vsn[0] == "") {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	ser, err := serializer.ForVsn(query.Get("vsn"))
	if err != nil {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	if !checkOrigin(ep.cfg.CheckOrigin, r) {
		return nil, nil, &refusal{http.StatusForbidden}
	}
	connected, err := d.router.Connect(query, connectInfo(r, transport, authToken))
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
