package vijson

import (
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// The SMS enumerations by the API's enum values: the inverse of the
// service's mapping.
var (
	providerStatuses = map[vasagwv1.VasaProvider_Status]string{
		vasagwv1.VasaProvider_STATUS_ONLINE:       "online",
		vasagwv1.VasaProvider_STATUS_OFFLINE:      "offline",
		vasagwv1.VasaProvider_STATUS_SYNC_ERROR:   "syncError",
		vasagwv1.VasaProvider_STATUS_UNKNOWN:      "unknown",
		vasagwv1.VasaProvider_STATUS_CONNECTED:    "connected",
		vasagwv1.VasaProvider_STATUS_DISCONNECTED: "disconnected",
	}
	certificateStatuses = map[vasagwv1.VasaProvider_CertificateStatus]string{
		vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID:                     "valid",
		vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRY_SOFT_LIMIT_REACHED: "expirySoftLimitReached",
		vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRY_HARD_LIMIT_REACHED: "expiryHardLimitReached",
		vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRED:                   "expired",
		vasagwv1.VasaProvider_CERTIFICATE_STATUS_INVALID:                   "invalid",
	}
	taskStates = map[vasagwv1.Task_State]string{
		vasagwv1.Task_STATE_QUEUED:    "queued",
		vasagwv1.Task_STATE_RUNNING:   "running",
		vasagwv1.Task_STATE_SUCCEEDED: "success",
		vasagwv1.Task_STATE_FAILED:    "error",
	}
)

// Managed object types of the SMS API.
const (
	typeServiceInstance = "SmsServiceInstance"
	typeStorageManager  = "SmsStorageManager"
	typeVasaProvider    = "VasaProvider"
	typeSmsTask         = "SmsTask"
)

// storageManager is the SmsStorageManager, whose moId is fixed in SMS
// ("StorageManager"), as the service instance's is ("ServiceInstance").
var storageManager = vimtypes.ManagedObjectReference{Type: typeStorageManager, Value: "StorageManager"}

// lastSegment returns the last segment of a resource name
// ("vcenters/default/tasks/SmsTask-1" -> "SmsTask-1").
func lastSegment(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// taskRef is the SmsTask reference of an API task.
func taskRef(t *vasagwv1.Task) vimtypes.ManagedObjectReference {
	return vimtypes.ManagedObjectReference{Type: typeSmsTask, Value: lastSegment(t.GetName())}
}

// resourceRef is the MoRef of an API resource name: a provider or a task.
func resourceRef(name string) *vimtypes.ManagedObjectReference {
	switch {
	case name == "":
		return nil
	case strings.Contains(name, "/vasaProviders/"):
		return &vimtypes.ManagedObjectReference{Type: typeVasaProvider, Value: lastSegment(name)}
	case strings.Contains(name, "/tasks/"):
		return &vimtypes.ManagedObjectReference{Type: typeSmsTask, Value: lastSegment(name)}
	}
	return nil
}

// taskInfo renders an API task as SMS's SmsTaskInfo.
func taskInfo(t *vasagwv1.Task) *smstypes.SmsTaskInfo {
	ref := taskRef(t)
	out := &smstypes.SmsTaskInfo{
		Key:            ref.Value,
		Task:           ref,
		Object:         resourceRef(t.GetTarget()),
		State:          taskStates[t.GetState()],
		Progress:       t.GetProgressPercent(),
		StartTime:      timePtr(t.GetStartTime()),
		CompletionTime: timePtr(t.GetCompletionTime()),
	}
	if e := t.GetError(); e != nil {
		out.Error = localized(faultOf(status.FromProto(e), ref))
	}
	if r := resourceRef(t.GetResult()); r != nil && t.GetState() == vasagwv1.Task_STATE_SUCCEEDED {
		out.Result = *r
	}
	return out
}

// providerInfo renders an API provider as SMS's VasaProviderInfo.
func providerInfo(p *vasagwv1.VasaProvider) *smstypes.VasaProviderInfo {
	out := &smstypes.VasaProviderInfo{
		SmsProviderInfo: smstypes.SmsProviderInfo{
			Uid:         p.GetUid(),
			Name:        p.GetDisplayName(),
			Description: p.GetDescription(),
			Version:     p.GetVersion(),
		},
		Url:                           p.GetUrl(),
		Certificate:                   p.GetCertificate(),
		Status:                        providerStatuses[p.GetStatus()],
		VasaVersion:                   p.GetVasaVersion(),
		Namespace:                     p.GetNamespace(),
		LastSyncTime:                  timeString(p.GetLastSyncTime()),
		SupportedProfile:              p.GetSupportedProfiles(),
		SupportedProviderProfile:      p.GetSupportedProviderProfiles(),
		ProviderId:                    p.GetProviderId(),
		CertificateExpiryDate:         timeString(p.GetCertificateExpireTime()),
		CertificateStatus:             certificateStatuses[p.GetCertificateStatus()],
		ServiceLocation:               p.GetServiceLocation(),
		NeedsExplicitActivation:       p.NeedsExplicitActivation,
		MaxBatchSize:                  p.GetMaxBatchSize(),
		RetainVasaProviderCertificate: p.RetainVasaProviderCertificate,
		ArrayIndependentProvider:      p.ArrayIndependentProvider,
		Type:                          p.GetType(),
		Category:                      p.GetCategory(),
		Priority:                      p.GetPriority(),
		FailoverGroupId:               p.GetFailoverGroupId(),
	}
	for _, m := range p.GetSupportedVendorModelMappings() {
		out.SupportedVendorModelMapping = append(out.SupportedVendorModelMapping, smstypes.SupportedVendorModelMapping{
			VendorId: m.GetVendorId(), ModelId: m.GetModelId(),
		})
	}
	for _, a := range p.GetRelatedStorageArrays() {
		out.RelatedStorageArray = append(out.RelatedStorageArray, smstypes.RelatedStorageArray{
			ArrayId: a.GetArrayId(), Active: a.GetActive(), Manageable: a.GetManageable(), Priority: a.GetPriority(),
		})
	}
	if sf := p.GetStatusFault(); sf != nil {
		out.StatusFault = localized(faultOf(status.FromProto(sf), vimtypes.ManagedObjectReference{Type: typeVasaProvider, Value: lastSegment(p.GetName())}))
	}
	return out
}

func timePtr(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime().UTC()
	return &t
}

// timeString renders a time as SMS's xsd:string dates do.
func timeString(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}
