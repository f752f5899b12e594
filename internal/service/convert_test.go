package service

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	smstypes "github.com/vmware/govmomi/sms/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestToProvider pins each VasaProvider field to the SMS field it comes
// from, the two profile lists in particular (issue 15: supportedProfile and
// supportedProviderProfile were swapped).
func TestToProvider(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	certPEM, certSHA := testCertificate(t)
	expiry := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		info smstypes.VasaProviderInfo
		want *vasagwv1.VasaProvider
	}{
		{
			name: "provider profiles only",
			info: smstypes.VasaProviderInfo{SupportedProviderProfile: []string{"ProfileBasedManagement", "Replication"}},
			want: &vasagwv1.VasaProvider{Name: "vcenters/default/vasaProviders/vp-9", SupportedProviderProfiles: []string{"ProfileBasedManagement", "Replication"}},
		},
		{
			name: "profiles only",
			info: smstypes.VasaProviderInfo{SupportedProfile: []string{"capability", "storageDrs"}},
			want: &vasagwv1.VasaProvider{Name: "vcenters/default/vasaProviders/vp-9", SupportedProfiles: []string{"capability", "storageDrs"}},
		},
		{
			name: "every field",
			info: smstypes.VasaProviderInfo{
				SmsProviderInfo:               smstypes.SmsProviderInfo{Uid: "uid-9", Name: "array-z", Description: "d", Version: "4.2"},
				Url:                           "https://array-z:8443/vasa/version.xml",
				Certificate:                   certPEM,
				Status:                        "online",
				VasaVersion:                   "3.0",
				Namespace:                     "com.example",
				LastSyncTime:                  expiry.Format(time.RFC3339),
				SupportedVendorModelMapping:   []smstypes.SupportedVendorModelMapping{{VendorId: "EX", ModelId: "M1"}},
				SupportedProfile:              []string{"capability"},
				SupportedProviderProfile:      []string{"ProfileBasedManagement"},
				RelatedStorageArray:           []smstypes.RelatedStorageArray{{ArrayId: "a1", Active: true, Manageable: true, Priority: 2}},
				ProviderId:                    "pid",
				CertificateExpiryDate:         expiry.Format(time.RFC3339),
				CertificateStatus:             "valid",
				ServiceLocation:               "https://array-z:8443/vasa/services",
				NeedsExplicitActivation:       &no,
				MaxBatchSize:                  128,
				RetainVasaProviderCertificate: &yes,
				ArrayIndependentProvider:      &no,
				Type:                          "PERSISTENCE",
				Category:                      "external",
				Priority:                      7,
				FailoverGroupId:               "fg-1",
			},
			want: &vasagwv1.VasaProvider{
				Name:                          "vcenters/default/vasaProviders/vp-9",
				Uid:                           "uid-9",
				DisplayName:                   "array-z",
				Description:                   "d",
				Url:                           "https://array-z:8443/vasa/version.xml",
				Version:                       "4.2",
				VasaVersion:                   "3.0",
				Status:                        vasagwv1.VasaProvider_STATUS_ONLINE,
				CertificateStatus:             vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID,
				CertificateExpireTime:         timestamppb.New(expiry),
				LastSyncTime:                  timestamppb.New(expiry),
				Namespace:                     "com.example",
				ProviderId:                    "pid",
				Type:                          "PERSISTENCE",
				Category:                      "external",
				SupportedProviderProfiles:     []string{"ProfileBasedManagement"},
				SupportedProfiles:             []string{"capability"},
				NeedsExplicitActivation:       &no,
				RetainVasaProviderCertificate: &yes,
				Certificate:                   certPEM,
				CertificateSha256Fingerprint:  certSHA,
				ServiceLocation:               "https://array-z:8443/vasa/services",
				RelatedStorageArrays:          []*vasagwv1.RelatedStorageArray{{ArrayId: "a1", Active: true, Manageable: true, Priority: 2}},
				MaxBatchSize:                  proto.Int64(128),
				ArrayIndependentProvider:      &no,
				Priority:                      proto.Int32(7),
				FailoverGroupId:               "fg-1",
				SupportedVendorModelMappings:  []*vasagwv1.SupportedVendorModelMapping{{VendorId: "EX", ModelId: "M1"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := toProvider("default", vcenter.ProviderFromInfo("vp-9", &tt.info))
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("toProvider (-want +got):\n%s", diff)
			}
		})
	}
}
