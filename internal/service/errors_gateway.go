package service

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
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

// ErrorInfo metadata keys of the provider life cycle.
const (
	metadataStep              = "step"
	metadataCertificateStatus = "certificateStatus"
)

// provisionCertificateHelp is the recovery step a refused RecoverProvider
// is missing: the storage administrator must give the provider a new
// certificate before the gateway unregisters anything.
var provisionCertificateHelp = &errdetails.Help_Link{
	Description: "Provision a new self-signed certificate on the provider, with the storage vendor's VASA provider tools, then call RecoverProvider again",
	Url:         "https://developer.broadcom.com/xapis/vcenter-storage-monitoring-service-api/latest/sms.fault.InvalidCertificate.html",
}

// recoveryNotNeeded refuses RecoverProvider for a provider whose
// certificate vCenter reports neither expired nor invalid.
func recoveryNotNeeded(vcenterID, resource, certificateStatus string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.FailedPrecondition, "RECOVERY_NOT_NEEDED",
		"provider's certificate is neither expired nor invalid; recovery is not needed",
		"The storage provider's certificate is not expired or invalid, so it needs no recovery; reconnect it instead.")
	if certificateStatus != "" {
		b.info.Metadata[metadataCertificateStatus] = clean(certificateStatus, maxDetailString)
	}
	b.details = append(b.details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
		Type:        "CERTIFICATE",
		Subject:     clean(resource, maxDetailString),
		Description: "recovery applies only to a provider whose certificate is expired or invalid (or whose reconnect faults InvalidCertificate); use ReconnectProvider",
	}}})
	return b.status().Err()
}

// certificateNotRenewed refuses RecoverProvider before anything changes:
// the provider still presents an expired certificate, or the one vCenter
// already holds, so a register could not succeed. why says which; the
// fingerprint is the presented certificate's.
func certificateNotRenewed(vcenterID, resource, why, fingerprint string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.FailedPrecondition, "PROVIDER_CERTIFICATE_NOT_RENEWED",
		"provider still presents "+why+"; provision a new self-signed certificate on the provider first",
		"The storage provider still presents its old certificate; provision a new self-signed certificate on the provider, then try again.")
	if fingerprint != "" {
		b.info.Metadata[metadataCertificateSHA] = clean(fingerprint, maxDetailString)
	}
	b.details = append(b.details,
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type:        "CERTIFICATE",
			Subject:     clean(resource, maxDetailString),
			Description: "the provider's URL presents " + why + "; provision a new self-signed certificate on the provider (nothing was unregistered)",
		}}},
		&errdetails.Help{Links: []*errdetails.Help_Link{provisionCertificateHelp}},
	)
	return b.status().Err()
}

// certificateFingerprintMismatch refuses RecoverProvider when the caller
// confirmed a fingerprint and the provider presents another certificate.
func certificateFingerprintMismatch(vcenterID, resource, presented string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.FailedPrecondition, "CERTIFICATE_FINGERPRINT_MISMATCH",
		"provider presents a certificate whose SHA-256 fingerprint differs from certificate_sha256_fingerprint",
		"The storage provider presents a different certificate than the one you confirmed; check it and try again.")
	b.info.Metadata[metadataCertificateSHA] = clean(presented, maxDetailString)
	b.details = append(b.details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
		Type:        "CERTIFICATE",
		Subject:     clean(resource, maxDetailString),
		Description: "the certificate the provider presents is not the one confirmed by certificate_sha256_fingerprint (nothing was unregistered)",
	}}})
	return b.status().Err()
}

// providerUnreachable refuses RecoverProvider when the provider's URL
// cannot be reached for the certificate check: a register could not
// succeed either.
func providerUnreachable(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.Unavailable, "PROVIDER_UNREACHABLE",
		"gateway could not read the certificate the provider's URL presents",
		"The gateway could not reach the storage provider to check its certificate; try again later.")
	b.retryInfo(retryProvider)
	return b.status().Err()
}

// providerNotOnline ends a recovery's wait when the registered provider did
// not report online or connected in time.
func providerNotOnline(vcenterID, resource, providerStatus string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.DeadlineExceeded, "PROVIDER_NOT_ONLINE",
		"registered provider did not report online or connected in time",
		"The storage provider was registered but did not come online in time; check it, then resume the recovery.")
	if providerStatus != "" {
		b.info.Metadata["providerStatus"] = clean(providerStatus, maxDetailString)
	}
	return b.status().Err()
}

// stepFailed is the error of a task the gateway runs that ended because
// one of its steps failed: the step's own status (code, reason, domain and
// details kept) with the step named in the ErrorInfo metadata `step` and in
// the message, and how to resume when resume says so.
func stepFailed(st *status.Status, step vasagwv1.TaskStep_Kind, resume bool) *status.Status {
	name := step.String()
	msg := "step " + name + " failed: " + st.Message()
	if resume {
		msg += "; call again with the same request_id (and the password) to resume from this step"
	}
	out := status.New(st.Code(), clean(msg, maxDetailString))
	details := make([]protoadapt.MessageV1, 0, len(st.Details()))
	for _, d := range st.Details() {
		m, ok := d.(protoadapt.MessageV1)
		if !ok {
			continue
		}
		if info, ok := m.(*errdetails.ErrorInfo); ok {
			info = proto.CloneOf(info)
			if info.Metadata == nil {
				info.Metadata = make(map[string]string)
			}
			info.Metadata[metadataStep] = name
			m = info
		}
		details = append(details, m)
	}
	if withDetails, err := out.WithDetails(details...); err == nil {
		return withDetails
	}
	return out
}

// lifecycleUnsupported answers a life-cycle RPC sent through a vCenter
// session that cannot register, unregister, sync or refresh providers.
func lifecycleUnsupported(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.Unimplemented, "NOT_IMPLEMENTED",
		"this vCenter session does not support the provider life cycle",
		"This operation is not available in this kind of vCenter session.")
	return b.status().Err()
}

// watchDisabled refuses WatchVasaProviders on a gateway configured with no
// provider refresh loop (a provider poll interval of 0): UNIMPLEMENTED, as
// for a gateway that does not serve the method, so that a client falls
// back to listing.
func watchDisabled(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.Unimplemented, "PROVIDER_WATCH_DISABLED",
		"watching providers needs the provider refresh loop, which this gateway runs with no interval",
		"Watching providers is turned off on this gateway.")
	return b.status().Err()
}
