package service

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

// shutdownRetryDelay is the RetryInfo a watcher gets when this replica
// shuts down: reconnect soon, probably to another replica.
const shutdownRetryDelay = time.Second

// unknownVCenter answers a name whose `{vcenter}` is not configured.
func unknownVCenter(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.NotFound, "VCENTER_NOT_FOUND", "no vCenter with this id is configured", "The vCenter was not found.")
	b.details = append(b.details, &errdetails.ResourceInfo{
		ResourceType: "vasagw.io/VCenter",
		ResourceName: clean(collectionVCenters+"/"+vcenterID, maxDetailString),
		Description:  "no vCenter with this id is configured; ListVCenters (GET /v1/vcenters) lists those that are",
	})
	return b.status().Err()
}

// shuttingDown ends a watch when the gateway stops: UNAVAILABLE with
// RetryInfo, so the subscriber reconnects.
func shuttingDown(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.Unavailable, "SHUTTING_DOWN", "the gateway is shutting down; retry", "The service is restarting; try again.")
	b.retryInfo(shutdownRetryDelay)
	return b.status().Err()
}

// InvalidRequest is the error for a malformed request that the REST facade
// rejects before it reaches a service (bad JSON, an unknown field, an
// oversized body): INVALID_ARGUMENT, reason INVALID_REQUEST, with a
// BadRequest naming field, exactly as the services report their own.
func InvalidRequest(field, description string) error {
	return invalidRequest(field, description)
}

// GatewayError is one of the gateway's own errors raised outside the
// services (an unknown route, say), in the same shape as theirs: a status
// with an ErrorInfo of domain vasagw.io carrying reason and metadata.
func GatewayError(code codes.Code, reason, message string, metadata map[string]string) error {
	b := newGatewayStatus("", "")
	b.set(code, reason, clean(message, maxDetailString), clean(message, maxDetailString))
	for k, v := range metadata {
		b.info.Metadata[k] = clean(v, maxDetailString)
	}
	return b.status().Err()
}
