package token_test

import (
	"errors"
	"fmt"
	"log"
	"net/url"
	"time"

	"github.com/pyrehq/pyre/transport/token"
)

// Socket authentication, as with Phoenix.Token: sign the user id at login, hand the token to the page,
// which passes it to phoenix.js (new Socket("/socket", {params: {token}})), and verify it when the socket
// connects.
func Example_socketAuthentication() {
	secretKeyBase := "kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6jZ-kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6j" // from config
	signer, err := token.NewSigner(secretKeyBase, "user socket")
	if err != nil {
		log.Fatal(err)
	}

	// At login, in an HTTP handler.
	userToken, err := signer.Sign(42)
	if err != nil {
		log.Fatal(err)
	}

	// The socket's connect callback, shaped as channel.ConnectFunc: an error refuses the connection.
	connect := func(params url.Values) (map[string]any, error) {
		var userID int
		if err := signer.Verify(params.Get("token"), &userID); err != nil {
			return nil, err
		}
		return map[string]any{"user_id": userID}, nil
	}

	assigns, err := connect(url.Values{"token": {userToken}})
	fmt.Println(assigns, err)
	_, err = connect(url.Values{})
	fmt.Println(err)
	_, err = connect(url.Values{"token": {userToken + "x"}})
	fmt.Println(errors.Is(err, token.ErrInvalid))
	// Output:
	// map[user_id:42] <nil>
	// token: missing
	// true
}

// Tokens expire after their max age; VerifyMaxAge checks against another one, as Phoenix's max_age option.
func ExampleSigner_Verify() {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	signer, err := token.NewSigner("kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6jZ-kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6j", "session",
		token.WithClock(func() time.Time { return now }))
	if err != nil {
		log.Fatal(err)
	}
	t, _ := signer.Sign("session-1", token.MaxAge(time.Hour))

	now = now.Add(30 * time.Minute)
	fmt.Println(signer.Verify(t, nil))
	fmt.Println(signer.Verify(t, nil, token.VerifyMaxAge(10*time.Minute)))
	now = now.Add(time.Hour)
	fmt.Println(signer.Verify(t, nil))
	fmt.Println(signer.Verify(t, nil, token.VerifyMaxAge(token.Infinity)))
	// Output:
	// <nil>
	// token: expired
	// token: expired
	// <nil>
}

// The one-shot functions derive the key on every call, as Phoenix.Token does without its key cache; keep
// a Signer for anything called often.
func ExampleVerify() {
	const secretKeyBase = "kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6jZ-kM3tA9vQ2xW7pL0sN5rB8yC1dF4gH6j"
	t, err := token.Sign(secretKeyBase, "user socket", map[string]string{"user": "alice"}, 2*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	var data map[string]string
	err = token.Verify(secretKeyBase, "user socket", t, 0, &data)
	fmt.Println(data["user"], err)
	err = token.Verify(secretKeyBase, "another salt", t, 0, &data)
	fmt.Println(err)
	// Output:
	// alice <nil>
	// token: invalid: bad signature
}
