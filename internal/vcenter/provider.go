package vcenter

import (
	"slices"
	"strconv"
	"strings"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
)

// Provider is a VASA provider as SMS reports it, in Go types the service
// layer can use without govmomi.
type Provider struct {
	// ID is the provider's SMS managed-object id (moId).
	ID          string
	UID         string
	Name        string
	Description string
	URL         string
	Version     string
	VasaVersion string
	Namespace   string
	ProviderID  string
	Type        string
	Category    string
	// Status is the upstream status: online, offline, syncError, unknown,
	// connected or disconnected.
	Status string
	// StatusFault explains Status; nil when upstream reports none.
	StatusFault *Fault
	// CertificateStatus is valid, expirySoftLimitReached,
	// expiryHardLimitReached, expired or invalid ("" when not reported).
	CertificateStatus string
	// CertificateExpiry is zero when absent or unparseable.
	CertificateExpiry time.Time
	// LastSyncTime is zero when absent or unparseable.
	LastSyncTime time.Time
	// Certificate is the provider's certificate (PEM) as SMS holds it.
	Certificate string
	// CertificateSHA256 is Certificate's fingerprint ("AB:CD:...", see
	// [NormalizeFingerprint]); "" when Certificate holds none.
	CertificateSHA256 string
	// ServiceLocation is the VASA endpoint SMS uses for the provider.
	ServiceLocation string

	NeedsExplicitActivation *bool
	RetainCertificate       *bool

	// SupportedProfiles is the (deprecated upstream) supportedProfile list.
	SupportedProfiles []string
	// SupportedProviderProfiles is the provider-level supportedProviderProfile list.
	SupportedProviderProfiles []string

	// RelatedStorageArrays are the arrays the provider manages.
	RelatedStorageArrays []RelatedStorageArray
	// SupportedVendorModels are the vendor and model pairs it supports.
	SupportedVendorModels []VendorModel
	// MaxBatchSize is the most entities one call may name (0: not reported).
	MaxBatchSize int64
	// ArrayIndependentProvider is nil when not reported.
	ArrayIndependentProvider *bool
	// Priority is the provider's priority within its VASA HA group, and
	// FailoverGroupID that group ("" for a stand-alone provider).
	Priority        int32
	FailoverGroupID string
}

// RelatedStorageArray is one array a provider manages (SMS
// RelatedStorageArray): whether the provider is active and can manage it
// for this vCenter, and its priority among the providers of the array.
type RelatedStorageArray struct {
	ArrayID    string
	Active     bool
	Manageable bool
	Priority   int32
}

// VendorModel is one SupportedVendorModelMapping entry.
type VendorModel struct {
	VendorID, ModelID string
}

// ProviderFromInfo converts what QueryProviderInfo returned for the provider
// with moId id. It returns nil for nil.
func ProviderFromInfo(id string, info *smstypes.VasaProviderInfo) *Provider {
	if info == nil {
		return nil
	}
	return &Provider{
		ID:                        id,
		UID:                       info.Uid,
		Name:                      info.Name,
		Description:               info.Description,
		URL:                       info.Url,
		Version:                   info.Version,
		VasaVersion:               info.VasaVersion,
		Namespace:                 info.Namespace,
		ProviderID:                info.ProviderId,
		Type:                      info.Type,
		Category:                  info.Category,
		Status:                    info.Status,
		StatusFault:               FaultFromLocalized(info.StatusFault),
		CertificateStatus:         info.CertificateStatus,
		CertificateExpiry:         parseTime(info.CertificateExpiryDate),
		LastSyncTime:              parseTime(info.LastSyncTime),
		Certificate:               info.Certificate,
		ServiceLocation:           info.ServiceLocation,
		NeedsExplicitActivation:   copyBool(info.NeedsExplicitActivation),
		RetainCertificate:         copyBool(info.RetainVasaProviderCertificate),
		SupportedProfiles:         slices.Clone(info.SupportedProfile),
		SupportedProviderProfiles: slices.Clone(info.SupportedProviderProfile),
		CertificateSHA256:         CertificateSHA256(info.Certificate),
		RelatedStorageArrays:      relatedArrays(info.RelatedStorageArray),
		SupportedVendorModels:     vendorModels(info.SupportedVendorModelMapping),
		MaxBatchSize:              info.MaxBatchSize,
		ArrayIndependentProvider:  copyBool(info.ArrayIndependentProvider),
		Priority:                  info.Priority,
		FailoverGroupID:           info.FailoverGroupId,
	}
}

func relatedArrays(in []smstypes.RelatedStorageArray) []RelatedStorageArray {
	if len(in) == 0 {
		return nil
	}
	out := make([]RelatedStorageArray, len(in))
	for i, a := range in {
		out[i] = RelatedStorageArray{ArrayID: a.ArrayId, Active: a.Active, Manageable: a.Manageable, Priority: a.Priority}
	}
	return out
}

func vendorModels(in []smstypes.SupportedVendorModelMapping) []VendorModel {
	if len(in) == 0 {
		return nil
	}
	out := make([]VendorModel, len(in))
	for i, m := range in {
		out[i] = VendorModel{VendorID: m.VendorId, ModelID: m.ModelId}
	}
	return out
}

func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// timeLayouts are the forms in which SMS string dates have been seen.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
	time.UnixDate,
	time.ANSIC,
	"Mon Jan 02 15:04:05 MST 2006",
}

// parseTime reads an SMS date string (xsd:dateTime in practice, a few other
// layouts, or epoch milliseconds); the zero time when it cannot.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}
