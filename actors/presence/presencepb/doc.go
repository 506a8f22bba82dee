// Package presencepb holds the protobuf messages the presence trackers of Pyre nodes exchange (generated
// from presence.proto by `make proto`; do not edit presence.pb.go by hand). Every node must link this
// package: protoactor's remote finds a message's Go type by its protobuf name in the receiving binary.
package presencepb
