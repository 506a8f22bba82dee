// Package dashboard is a live dashboard of a Pyre endpoint: an http.Handler you mount, off unless you do,
// serving a page that Pyre itself keeps up to date — the page joins the channel "pyre:dashboard" with
// phoenix.js on a socket of the dashboard's own, and every update is a broadcast on it.
//
// # What it shows
//
//   - the supervision tree as it is now: the endpoint supervisor and its state, its infrastructure workers
//     (pubsub, the janitor, presence trackers…), the socket supervisor's sockets by transport, and the
//     channels (children of their socket actor) by topic prefix ("room:" of "room:42"), each group with its
//     restart types, how many were restarted, the highest incarnation and the restarts of the last five
//     minutes. Every node is collapsible; opening a group lists its first 50 actors (a socket's id, queue
//     and channels; a channel's topic, restart type and incarnation), the most loaded or most restarted
//     first;
//   - connections by transport, channels, topics, presences, frames queued for clients (in all, the
//     longest queue, sockets waiting) and slow-consumer cuts;
//   - the recent in-place restarts, and the recent crashes with their reasons and stack summaries;
//   - charts of the last minutes (Config.History): connects, joins, messages in and out, crashes;
//   - one row per node when clustered (Config.Nodes, or the cluster's member events).
//
// An update is bounded whatever the size of the endpoint: at most 40 topic-prefix groups (the rest are
// folded into one), no per-actor rows (those come on request, 50 at most), the 20 newest crashes and
// restarts, the newest point of each chart; a few kilobytes at 10,000 sockets.
//
// # Mounting
//
// The dashboard needs the endpoint's events for its rates and crashes, so make it first, give its
// Events to the endpoint (presence trackers take them from there), then Start it on the endpoint and
// mount it as a subtree (it serves its page, script, style and socket under the mount path, wherever
// that is):
//
//	dash := dashboard.New(dashboard.Config{
//		Authorize: func(r *http.Request) bool { return isAdmin(r) }, // nil: everyone
//		PhoenixJS: "/assets/phoenix.mjs",                            // where you serve phoenix.js
//	})
//	ep := transport.NewEndpoint(transport.Config{Events: telemetry.Combine(dash.Events(), other)})
//	ep.Socket("/socket", router)
//	if err := dash.Start(ep); err != nil { … }
//	mux.Handle("/socket/", ep)
//	mux.Handle("/dashboard/", dash) // the page is /dashboard/, its socket /dashboard/socket
//	…
//	srv.Shutdown(ctx); dash.Close(ctx); ep.Shutdown(ctx)
//
// Config.Authorize sees every request under the mount path — the page, its assets, the WebSocket upgrade
// and each long-poll request of its socket — and a refused one gets 403. The page imports phoenix.js (the
// phoenix npm package's priv/static/phoenix.mjs) from Config.PhoenixJS, which your application serves;
// nothing else is fetched, no CDN. The dashboard's socket is its own endpoint, so the page's connection
// shows in neither your endpoint's counts nor its routes, and your socket's Connect never sees it.
//
// # Cost
//
// Each event the dashboard observes costs an atomic add (a crash, a short lock). One goroutine, started by
// Start and stopped by Close, samples once per Config.Interval: the charts' counters always, the tree
// (Endpoint.Stats and Endpoint.Actors, a walk of every socket and channel) only while a page is open. It
// never blocks an actor: the tree is read from the runtime's tables, and only the endpoint supervisor is
// asked for its children (the sampler waits at most a second for the answer). Restarts are found by comparing
// each channel's incarnation with the previous sample, so a channel that restarts and ends between two
// samples of an open page is missed (its crash is still listed).
//
// # Concurrency
//
// New starts nothing. Start starts the sampling goroutine and the dashboard's endpoint; Close stops the
// goroutine, waits for it and shuts the endpoint down. ServeHTTP, Events' funcs and Close are safe for
// concurrent use. Config.Nodes is called from the sampling goroutine and must not block.
package dashboard
