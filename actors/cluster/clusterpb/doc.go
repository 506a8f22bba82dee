// Package clusterpb holds the protobuf messages Pyre nodes exchange (generated from cluster.proto by
// `make proto`; do not edit cluster.pb.go by hand). Every node must link this package: protoactor's remote
// finds a message's Go type by its protobuf name in the receiving binary.
package clusterpb
