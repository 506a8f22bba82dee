package host

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/pyrehq/pyre/actors/message"
)

// keepChannel records the assigns its Join saw; "set" assigns a token with Assign and another with Keep,
// "forget" drops the kept one, "crash" panics, "seen" replies what the current incarnation's Join saw.
type keepChannel struct{ seen string }

func (c *keepChannel) Join(s *Socket, _ string, _ Payload) (any, error) {
	a := s.Assigns()
	c.seen = fmt.Sprintf("%d assigned=%v kept=%v", s.Incarnation(), a["assigned"], a["kept"])
	// The presence-key pattern: drawn once, in the first Join, kept for the next ones.
	if _, ok := a["drawn"]; !ok {
		if err := s.Keep("drawn", fmt.Sprint("key-", s.Incarnation())); err != nil {
			return nil, err
		}
	}
	c.seen += fmt.Sprint(" drawn=", s.Assigns()["drawn"])
	return nil, nil
}

func (c *keepChannel) HandleIn(s *Socket, event string, _ Payload) (Reply, error) {
	switch event {
	case "set":
		s.Assign("assigned", "a1")
		if err := s.Keep("kept", "k1"); err != nil {
			return ReplyError(map[string]string{"reason": err.Error()}), nil
		}
	case "forget":
		_ = s.Keep("kept", nil)
	case "crash":
		panic("boom")
	case "fill":
		for i := range MaxKept { // "drawn" is kept already
			if err := s.Keep(fmt.Sprint("k", i), i); err != nil {
				return ReplyError(map[string]any{"reason": err.Error(), "at": i}), nil
			}
		}
	}
	return ReplyOK(map[string]string{"seen": c.seen}), nil
}

// Socket.Keep carries a value into the Join re-run by an in-place restart; Assign does not; Keep(key, nil)
// forgets it; a key past MaxKept is refused. A value kept in the first Join (a presence key drawn at
// random) is the same in every incarnation.
func TestKeepCarriesAssignsAcrossRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := NewRouter(nil)
	r.Channel("room:*", func() Channel { return &keepChannel{} })
	h := New(Config{})
	defer shutdown(t, h)
	s, out := openOne(t, h, r)
	send := func(ref, event string) {
		s.Receive(&message.Message{JoinRef: "1", Ref: message.Ref(ref), Topic: "room:k", Event: event, Payload: message.EmptyObject})
	}
	send("1", message.EventJoin)
	send("2", "set")
	send("3", "crash")
	send("4", "seen")
	send("5", "forget")
	send("6", "crash")
	send("7", "seen")
	send("8", "fill")
	awaitOrder(t, out, []string{
		`[1,1,"room:k","phx_reply",ok {}]`,
		`[1,2,"room:k","phx_reply",ok {"seen":"1 assigned=\u003cnil\u003e kept=\u003cnil\u003e drawn=key-1"}]`,
		`[1,3,"room:k","phx_reply",error {"reason":"channel_crash"}]`,
		`[1,4,"room:k","phx_reply",ok {"seen":"2 assigned=\u003cnil\u003e kept=k1 drawn=key-1"}]`,
		`[1,5,"room:k","phx_reply",ok {"seen":"2 assigned=\u003cnil\u003e kept=k1 drawn=key-1"}]`,
		`[1,6,"room:k","phx_reply",error {"reason":"channel_crash"}]`,
		`[1,7,"room:k","phx_reply",ok {"seen":"3 assigned=\u003cnil\u003e kept=\u003cnil\u003e drawn=key-1"}]`,
		fmt.Sprintf(`[1,8,"room:k","phx_reply",error {"at":%d,"reason":"channel: too many kept values"}]`, MaxKept-1),
	})
}
