package crdt

import "errors"

var (
	// ErrAlreadyTracked: the owner already tracks that (topic, key) (Phoenix: :already_tracked).
	ErrAlreadyTracked = errors.New("crdt: already tracked")

	// ErrNotContiguous: a delta starts after the clock this state has for its replica, so some of that
	// replica's events were missed. Nothing was applied; ask the replica for Extract(Context()).
	ErrNotContiguous = errors.New("crdt: delta not contiguous")

	// ErrInvalidDelta: a delta breaks the structural rules documented on Delta. Nothing was applied.
	ErrInvalidDelta = errors.New("crdt: invalid delta")

	// ErrReplicaReused: a delta claims events of this state's own replica that it never issued: another
	// process ran under the same Replica name before. Nothing was applied; see the package doc on naming.
	ErrReplicaReused = errors.New("crdt: delta covers unissued events of this replica (replica name reused?)")
)
