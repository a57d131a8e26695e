package esdbtest

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
)

// Version is the server version the double reports. The client parses the first three dot
// separated numbers of it (client: esdb/impl.go getSupportedMethods).
const Version = "24.10.0"

// featuresService answers ServerFeatures.GetSupportedMethods, which the client calls right
// after connecting (client: esdb/impl.go discoverNode → getSupportedMethods).
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists the gRPC methods this double serves, named as the server names
// them: lower-cased service and method names, with the "position" and "events" features on
// Streams.Read (server: Services/Transport/Grpc/ServerFeatures.cs). The version is
// major.minor.patch, as the server joins the first three parts of its version.
// BatchAppend is not listed because the double does not serve it; the client then uses Append.
func (*featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: "event_store.client.streams.streams", MethodName: "read", Features: []string{"position", "events"}},
			{ServiceName: "event_store.client.streams.streams", MethodName: "append"},
			{ServiceName: "event_store.client.gossip.gossip", MethodName: "read"},
			{ServiceName: "event_store.client.server_features.serverfeatures", MethodName: "getsupportedmethods"},
		},
	}, nil
}

// gossipService answers Gossip.Read, which the client calls before anything else when the
// connection string names several seeds or uses esdb+discover:// (client: esdb/impl.go
// discoverNode, clusterMode).
type gossipService struct {
	gossip.UnimplementedGossipServer
	s *Server
}

// instanceID identifies the double's single member; it is stable across restarts, as a
// node's instance id is.
var instanceID = uuid.MustParse("6e9b1f0e-2c55-4d1a-9f35-2f0a3f6c7b10")

// Read describes a one-node cluster whose only member is this double, alive and leader. The
// member's "HTTP" endpoint is where clients connect for gRPC (server:
// Services/Transport/Grpc/Gossip.Read.cs maps HttpEndPointIp/Port; the time stamp is in
// ticks since the Unix epoch).
func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	host, portText, err := net.SplitHostPort(g.s.Addr())
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 32)
	if err != nil {
		return nil, err
	}
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   protoUUID(instanceID, true),
		TimeStamp:    ticksSinceEpoch(time.Now()),
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(port)},
	}}}, nil
}

// ticksSinceEpoch is the server's time format on the wire: 100 ns ticks since the Unix epoch
// (server: Services/Transport/Grpc/Streams.Read.cs ToTicksSinceEpoch; the client divides it
// back in esdb/protobuf_utils.go createdFromProto).
func ticksSinceEpoch(t time.Time) int64 { return t.UnixNano() / 100 }
