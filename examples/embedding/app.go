package main

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/transport"
)

// The backend's own messages.
type (
	// SetPrice is a new price: the feed pushes a Tick to every channel watching the symbol.
	SetPrice struct {
		Symbol string
		Value  float64
	}
	// Watch asks the feed for the ticks of a symbol, sent to Channel.
	Watch struct {
		Symbol  string
		Channel *actor.PID
	}
	// Quote is a Request, answered with a Price.
	Quote struct{ Symbol string }
	Price struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	// Tick is what the feed pushes to watching channels, by their PID.
	Tick Price
)

// App is a backend with actors of its own, Pyre's endpoint among them.
type App struct {
	System   *actor.ActorSystem
	Sup      *supervisor.Supervisor // the app's top supervisor: the feed and Pyre's tree
	Endpoint *transport.Endpoint
	feed     atomic.Pointer[actor.PID] // the current feed (a restart makes a new pid)
}

// NewApp starts the app's supervision tree on its own actor system, then Pyre's endpoint under it:
//
//	app (one_for_one)
//	 ├─ feed     the price feed
//	 └─ pyre     Pyre's tree: when it gives up, app restarts it
func NewApp(log *slog.Logger) (*App, error) {
	a := &App{System: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))}
	sup, err := supervisor.Start(a.System.Root, supervisor.Config{Name: "app", Children: []supervisor.ChildSpec{
		{ID: "feed", Restart: supervisor.Permanent, Start: func() (actor.Actor, error) { return &Feed{pid: &a.feed}, nil }},
	}})
	if err != nil {
		return nil, err
	}
	a.Sup = sup
	router := channel.NewRouter(nil)
	router.Channel("ticker:*", func() channel.Channel { return &Ticker{app: a} })
	router.Channel("trade:*", channel.FromActor(func() actor.Actor { return &Trader{app: a} }))
	a.Endpoint = transport.NewEndpoint(transport.Config{System: a.System, Parent: sup, Logger: log})
	a.Endpoint.Socket("/socket", router)
	return a, nil
}

// Feed returns the price feed's PID.
func (a *App) Feed() *actor.PID { return a.feed.Load() }

// Shutdown drains the endpoint (which leaves the app's tree), then stops the app.
func (a *App) Shutdown(ctx context.Context) error {
	if err := a.Endpoint.Shutdown(ctx); err != nil {
		return err
	}
	err := a.Sup.Stop(ctx)
	a.System.Shutdown()
	return err
}

// Feed is the backend's price feed, an actor under the app's supervisor. Channels Request quotes from it;
// it pushes ticks to the channels that watch a symbol, by their PID.
type Feed struct {
	pid      *atomic.Pointer[actor.PID]
	prices   map[string]float64
	watchers map[string]map[string]*actor.PID // symbol → channel pid id → pid
}

func (f *Feed) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.prices, f.watchers = map[string]float64{}, map[string]map[string]*actor.PID{}
		f.pid.Store(ctx.Self())
	case Watch:
		if f.watchers[m.Symbol] == nil {
			f.watchers[m.Symbol] = map[string]*actor.PID{}
		}
		f.watchers[m.Symbol][m.Channel.Id] = m.Channel
		ctx.Watch(m.Channel) // a channel that ends is forgotten (Terminated)
	case *actor.Terminated:
		for _, ws := range f.watchers {
			delete(ws, m.Who.Id)
		}
	case Quote:
		ctx.Respond(Price{Symbol: m.Symbol, Value: f.prices[m.Symbol]})
	case SetPrice:
		f.prices[m.Symbol] = m.Value
		for _, ch := range f.watchers[m.Symbol] {
			ctx.Send(ch, Tick{Symbol: m.Symbol, Value: m.Value})
		}
	}
}

// Ticker serves "ticker:SYMBOL" with the callback interface: it watches the symbol, and pushes each tick
// the feed sends to its PID.
type Ticker struct{ app *App }

func (t *Ticker) Join(s *channel.Socket, topic string, _ channel.Payload) (any, error) {
	t.app.System.Root.Send(t.app.Feed(), Watch{Symbol: strings.TrimPrefix(topic, "ticker:"), Channel: s.PID()})
	return nil, nil
}

func (t *Ticker) HandleIn(*channel.Socket, string, channel.Payload) (channel.Reply, error) {
	return channel.ReplyError(map[string]string{"reason": "read only"}), nil
}

func (t *Ticker) HandleInfo(s *channel.Socket, msg any) error {
	if tick, ok := msg.(Tick); ok {
		return s.Push("tick", tick)
	}
	return nil
}

// Trader serves "trade:SYMBOL" as a custom channel actor: a "buy" push Requests a quote from the feed and
// is answered with it when the feed responds; it never blocks its mailbox waiting.
type Trader struct {
	app     *App
	symbol  string
	pending []channel.ReplyRef // buys waiting for their quote, in order: the feed answers in order
}

func (t *Trader) Receive(ctx actor.Context) {
	s := channel.SocketOf(ctx)
	switch m := ctx.Message().(type) {
	case *channel.JoinMsg:
		t.symbol = strings.TrimPrefix(m.Topic, "trade:")
		ctx.Respond(map[string]string{"symbol": t.symbol})
	case *channel.InMsg:
		if m.Event != "buy" {
			ctx.Respond(channel.ReplyError(map[string]string{"reason": "unknown event"}))
			return
		}
		t.pending = append(t.pending, s.ReplyRef())
		ctx.Request(t.app.Feed(), Quote{Symbol: t.symbol}) // the answer comes to this channel's PID
	case Price: // the feed's answer to a Quote
		ref := t.pending[0]
		t.pending = t.pending[1:]
		_ = ref.Reply(channel.ReplyOK(map[string]any{"bought_at": m.Value}))
	case *actor.DeadLetterResponse: // the feed was gone (restarting): the buy fails, the channel goes on
		ref := t.pending[0]
		t.pending = t.pending[1:]
		_ = ref.Reply(channel.ReplyError(map[string]string{"reason": "no quote"}))
	}
}
