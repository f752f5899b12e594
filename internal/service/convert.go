package service

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// providerStatuses maps SMS VasaProviderStatus values to the API's enum.
var providerStatuses = map[string]vasagwv1.VasaProvider_Status{
	"online":       vasagwv1.VasaProvider_STATUS_ONLINE,
	"offline":      vasagwv1.VasaProvider_STATUS_OFFLINE,
	"syncError":    vasagwv1.VasaProvider_STATUS_SYNC_ERROR,
	"unknown":      vasagwv1.VasaProvider_STATUS_UNKNOWN,
	"connected":    vasagwv1.VasaProvider_STATUS_CONNECTED,
	"disconnected": vasagwv1.VasaProvider_STATUS_DISCONNECTED,
}

// certificateStatuses maps SMS VasaProviderCertificateStatus values.
var certificateStatuses = map[string]vasagwv1.VasaProvider_CertificateStatus{
	"valid":                  vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID,
	"expirySoftLimitReached": vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRY_SOFT_LIMIT_REACHED,
	"expiryHardLimitReached": vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRY_HARD_LIMIT_REACHED,
	"expired":                vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRED,
	"invalid":                vasagwv1.VasaProvider_CERTIFICATE_STATUS_INVALID,
}

// taskStates maps SMS SmsTaskState values.
var taskStates = map[string]vasagwv1.Task_State{
	"queued":  vasagwv1.Task_STATE_QUEUED,
	"running": vasagwv1.Task_STATE_RUNNING,
	"success": vasagwv1.Task_STATE_SUCCEEDED,
	"error":   vasagwv1.Task_STATE_FAILED,
}

// toProvider converts the upstream's provider info for the vCenter vcenterID.
// A status value this gateway does not know is reported as unspecified,
// never guessed.
func toProvider(vcenterID string, p *vcenter.Provider) *vasagwv1.VasaProvider {
	name := providerName{VCenter: vcenterID, Provider: p.ID}.String()
	out := &vasagwv1.VasaProvider{
		Name:                          name,
		Uid:                           p.UID,
		DisplayName:                   p.Name,
		Description:                   p.Description,
		Url:                           p.URL,
		Version:                       p.Version,
		VasaVersion:                   p.VasaVersion,
		Status:                        providerStatuses[p.Status],
		CertificateStatus:             certificateStatuses[p.CertificateStatus],
		CertificateExpireTime:         timestamp(p.CertificateExpiry),
		LastSyncTime:                  timestamp(p.LastSyncTime),
		Namespace:                     p.Namespace,
		ProviderId:                    p.ProviderID,
		Type:                          p.Type,
		Category:                      p.Category,
		SupportedProviderProfiles:     slices.Clone(p.SupportedProviderProfiles),
		SupportedProfiles:             slices.Clone(p.SupportedProfiles),
		NeedsExplicitActivation:       p.NeedsExplicitActivation,
		RetainVasaProviderCertificate: p.RetainCertificate,
		Certificate:                   p.Certificate,
		CertificateSha256Fingerprint:  p.CertificateSHA256,
		ServiceLocation:               p.ServiceLocation,
		ArrayIndependentProvider:      p.ArrayIndependentProvider,
		FailoverGroupId:               p.FailoverGroupID,
	}
	if p.MaxBatchSize > 0 {
		out.MaxBatchSize = proto.Int64(p.MaxBatchSize)
	}
	if p.Priority != 0 {
		out.Priority = proto.Int32(p.Priority)
	}
	for _, a := range p.RelatedStorageArrays {
		out.RelatedStorageArrays = append(out.RelatedStorageArrays, &vasagwv1.RelatedStorageArray{
			ArrayId: a.ArrayID, Active: a.Active, Manageable: a.Manageable, Priority: a.Priority,
		})
	}
	for _, m := range p.SupportedVendorModels {
		out.SupportedVendorModelMappings = append(out.SupportedVendorModelMappings, &vasagwv1.SupportedVendorModelMapping{
			VendorId: m.VendorID, ModelId: m.ModelID,
		})
	}
	if p.StatusFault != nil {
		out.StatusFault = faultStatus(p.StatusFault, vcenterID, name).Proto()
	}
	return out
}

// toTask converts the upstream's task info for the vCenter vcenterID.
func toTask(vcenterID string, t *vcenter.TaskInfo) *vasagwv1.Task {
	name := taskName{VCenter: vcenterID, Task: t.ID}.String()
	out := &vasagwv1.Task{
		Name:           name,
		Target:         targetName(vcenterID, t.TargetType, t.Target),
		State:          taskStates[t.State],
		StartTime:      timestamp(t.StartTime),
		CompletionTime: timestamp(t.CompletionTime),
	}
	if t.Progress != nil {
		out.ProgressPercent = proto.Int32(*t.Progress)
	}
	if t.Error != nil {
		out.Error = faultStatus(t.Error, vcenterID, name).Proto()
	}
	return out
}

// targetName names the object a task acts on as a resource of this API
// where there is one, else as "" (the API has no resource for it).
func targetName(vcenterID, moType, moID string) string {
	if moID == "" {
		return ""
	}
	switch moType {
	case "VasaProvider", "":
		return providerName{VCenter: vcenterID, Provider: moID}.String()
	case "SmsTask":
		return taskName{VCenter: vcenterID, Task: moID}.String()
	}
	return ""
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// terminal reports whether a task state is final.
func terminal(s vasagwv1.Task_State) bool {
	return s == vasagwv1.Task_STATE_SUCCEEDED || s == vasagwv1.Task_STATE_FAILED
}
