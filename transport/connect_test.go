package transport

import (
	"net/http"
	"net/url"
	"testing"
)

// Plug.Conn.Query's reading of one connect parameter (Phoenix's params["vsn"], params["token"]).
func TestQueryParam(t *testing.T) {
	tests := []struct {
		query, value  string
		present, want bool // want: one string
	}{
		{"", "", false, true},
		{"a=1", "", false, true},
		{"vsn=2.0.0", "2.0.0", true, true},
		{"vsn=", "", true, true},
		{"vsn", "", true, true},
		{"vsn=1.0.0&vsn=2.0.0", "2.0.0", true, true},
		{"vsn[]=2.0.0", "", true, false},
		{"vsn%5B%5D=2.0.0", "", true, false},
		{"vsn[a]=2.0.0", "", true, false},
		{"vsn[a][b]=2.0.0", "", true, false},
		{"vsn=2.0.0&vsn[]=2.0.0", "", true, false},
		{"vsn[]=2.0.0&vsn=1.0.0", "1.0.0", true, true},
		// The list stands where its first pair stands.
		{"vsn[]=x&vsn=2.0.0&vsn[]=y", "2.0.0", true, true},
		{"vsn[=2.0.0", "", false, true},
		{"vsnx=1&vsn]=2", "", false, true},
		{"v%73n=2.0.0", "2.0.0", true, true},
		{"vsn=2.0.0%2Bbuild&vsn=%zz", "2.0.0+build", true, true},
	}
	for _, tt := range tests {
		v, present, one := queryParam(tt.query, "vsn")
		if v != tt.value || present != tt.present || one != tt.want {
			t.Errorf("%q: (%q, %v, %v), want (%q, %v, %v)", tt.query, v, present, one, tt.value, tt.present, tt.want)
		}
	}
}

// Connect-time values Phoenix reads as one string (issue 12.4), over loopback HTTP: vsn on both transports,
// the long-poll connection token, the auth token. A list is refused or ignored as Phoenix does; of repeated
// keys the last counts.
func TestConnectParamsAsPhoenix(t *testing.T) {
	f := lpFixture(t, Config{})
	v1hb, v1reply := `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"h"}`,
		`{"topic":"phoenix","event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"h"}`
	v2hb, v2reply := `[null,"h","phoenix","heartbeat",{}]`, `[null,"h","phoenix","phx_reply",{"response":{},"status":"ok"}]`

	for _, tc := range []struct {
		query  string
		status int    // HTTP status of the WebSocket handshake
		vsn    string // the serializer then spoken
	}{
		{"vsn[]=2.0.0", 403, ""},
		{"vsn[]=1.0.0", 403, ""},
		{"vsn%5B%5D=2.0.0", 403, ""},
		{"vsn[a]=2.0.0", 403, ""},
		{"vsn=2.0.0&vsn[]=2.0.0", 403, ""},
		{"vsn=2.0.0&vsn=", 403, ""},
		{"vsn=1.0.0&vsn=2.0.0", 101, "2"},
		{"vsn=2.0.0&vsn=1.0.0", 101, "1"},
		{"vsn[]=1.0.0&vsn=2.0.0", 101, "2"},
		{"vsn[]=x&vsn=2.0.0&vsn[]=y", 101, "2"},
	} {
		c, resp, err := tryDial(t, f.srv, "/socket/websocket?"+tc.query, nil)
		status := http.StatusSwitchingProtocols
		if err != nil {
			status = 0
			if resp != nil {
				status = resp.StatusCode
			}
		}
		if status != tc.status {
			t.Fatalf("websocket ?%s: HTTP %d (%v), want %d", tc.query, status, err, tc.status)
		}
		switch tc.vsn {
		case "1":
			c.send(v1hb)
			c.expect(v1reply)
		case "2":
			c.send(v2hb)
			c.expect(v2reply)
		}

		// Long-poll: the same vsn, answered in the JSON body.
		r := lpDo(t, http.MethodGet, f.srv.URL+"/socket/longpoll?"+tc.query, nil, "")
		switch {
		case tc.status == 403 && r.Status != 403:
			t.Fatalf("longpoll ?%s: %s, want status 403", tc.query, r.raw)
		case tc.status == 101:
			if r.Status != http.StatusGone || r.Token == nil {
				t.Fatalf("longpoll ?%s: %s, want a new connection", tc.query, r.raw)
			}
			lc := &lpClient{t: t, base: f.srv.URL + "/socket/longpoll", params: tc.query, token: *r.Token, header: true}
			hb, reply, ct := v2hb, v2reply, "application/x-ndjson"
			if tc.vsn == "1" { // a V1 frame is not an ndjson line (those are arrays or base64)
				hb, reply, ct = v1hb, v1reply, "application/json"
			}
			if s := lpDo(t, http.MethodPost, lc.url(), lc.hdr(ct), hb).Status; s != http.StatusOK {
				t.Fatalf("longpoll ?%s: POST status %d", tc.query, s)
			}
			lc.expect(reply)
		}
	}

	// The connection token in the query: the last token= counts; token[]= makes a list, which finds no connection.
	c := lpOpen(t, f.srv, lpParams)
	tok := url.QueryEscape(c.token)
	post := func(query string) int {
		return lpDo(t, http.MethodPost, c.base+"?"+lpParams+"&"+query, http.Header{"Content-Type": {"application/x-ndjson"}}, v2hb).Status
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"token=" + tok, 200},
		{"token=junk&token=" + tok, 200},
		{"token[]=x&token=" + tok, 200},
		{"token=" + tok + "&token=", 410},
		{"token=" + tok + "&token[]=x", 410},
		{"token[]=" + tok, 410},
		{"token[a]=" + tok, 410},
	} {
		if got := post(tc.query); got != tc.want {
			t.Fatalf("POST ?%s: status %d, want %d", tc.query, got, tc.want)
		}
	}
	if r := lpDo(t, http.MethodGet, c.base+"?"+lpParams+"&token="+tok+"&token[]=x", nil, ""); r.Status != http.StatusGone || r.Token == nil || *r.Token == c.token {
		t.Fatalf("GET with a token list: %s, want a new connection", r.raw)
	}

	// The auth token: one bearer entry in the first Sec-WebSocket-Protocol header, as Phoenix reads it.
	for _, tc := range []struct {
		name   string
		header []string
		want   string
	}{
		{"one", []string{"phoenix, base64url.bearer.phx.c2VjcmV0LXRva2Vu"}, "secret-token"},
		{"two", []string{"phoenix, base64url.bearer.phx.c2VjcmV0LXRva2Vu, base64url.bearer.phx.b3RoZXI"}, ""},
		{"in a second header", []string{"phoenix", "base64url.bearer.phx.c2VjcmV0LXRva2Vu"}, ""},
	} {
		c := dial(t, f.srv, v2, http.Header{"Sec-WebSocket-Protocol": tc.header})
		c.send(`["1","1","token","phx_join",{}]`)
		c.expect(`["1","1","token","phx_reply",{"response":{"token":"` + tc.want + `"},"status":"ok"}]`)
	}
}
