package serializer

import "testing"

// DecodeOwned decodes as Decode does, and its payload is the frame's own bytes, not a copy.
func TestDecodeOwnedAliasesTheFrame(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      Serializer
		frame  string
		binary bool
	}{
		{"v2 text", V2, `["1","2","room:1","ev",{"a":"payload"}]`, false},
		{"v2 binary", V2, "\x00\x01\x01\x06\x02" + `12room:1evpayload`, true},
		{"v1", V1, `{"topic":"room:1","event":"ev","payload":{"a":"payload"},"ref":"2"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.s.Decode([]byte(tc.frame), tc.binary)
			if err != nil {
				t.Fatal(err)
			}
			frame := []byte(tc.frame)
			got, err := DecodeOwned(tc.s, frame, tc.binary)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffMessage(got, want); d != "" {
				t.Fatal(d)
			}
			p := got.Payload.Bytes()
			if len(p) == 0 || &p[0] != &frame[len(frame)-len(p)-tailLen(tc.frame)] {
				t.Fatal("payload copied, want it to alias the frame")
			}
			if cap(p) != len(p) {
				t.Fatalf("payload capacity %d reaches past it (%d bytes)", cap(p), len(p))
			}
		})
	}
}

// tailLen is how many bytes of frame follow the payload.
func tailLen(frame string) int {
	switch frame[len(frame)-1] {
	case ']':
		return 1
	case '}':
		return len(`,"ref":"2"}`)
	}
	return 0
}
