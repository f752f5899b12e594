package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"
)

// marshalJSON renders m as protojson (lowerCamelCase names, enum values by
// name), re-indented by encoding/json: protojson varies its whitespace on
// purpose, and scripts diffing vasactl's output should not see that.
func marshalJSON(m proto.Message, indent bool) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	var out bytes.Buffer
	if indent {
		err = json.Indent(&out, raw, "", "  ")
	} else {
		err = json.Compact(&out, raw)
	}
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	return out.Bytes(), nil
}

// marshalYAML renders m as YAML derived from its protojson: the same field
// names, values and order as -o json.
func marshalYAML(m proto.Message) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	blockStyle(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	return out.Bytes(), nil
}

// blockStyle drops the flow style that parsing JSON gives every node, so
// the YAML reads as YAML; the encoder still quotes a string that would
// otherwise read as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// printMessage writes m in the json or yaml format.
func printMessage(w io.Writer, format string, m proto.Message) error {
	var (
		b   []byte
		err error
	)
	switch format {
	case "yaml":
		b, err = marshalYAML(m)
	default:
		b, err = marshalJSON(m, true)
		b = append(b, '\n')
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// newTable is a borderless table in the habit of kubectl and govc: columns
// separated by spaces, upper-case headers.
func newTable(header ...any) table.Writer {
	t := table.NewWriter()
	style := table.StyleDefault
	style.Name = "vasactl"
	style.Options = table.Options{}
	style.Box.PaddingLeft = ""
	style.Box.PaddingRight = "   "
	t.SetStyle(style)
	if len(header) > 0 {
		t.AppendHeader(table.Row(header))
	}
	return t
}

// renderTable writes t, without the padding the last column would get.
func renderTable(w io.Writer, t table.Writer) error {
	var out strings.Builder
	for _, line := range strings.Split(t.Render(), "\n") {
		out.WriteString(strings.TrimRight(line, " "))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// enumText shortens an enum value name for a table: STATUS_SYNC_ERROR with
// prefix STATUS_ is "sync-error".
func enumText(name, prefix string) string {
	s := strings.TrimPrefix(name, prefix)
	if s == "UNSPECIFIED" || s == "" {
		return "-"
	}
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// timeText is a timestamp for a table (UTC, to the second), "-" when unset.
func timeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell is a value from the gateway as a table shows it: on one line, with
// no control characters, "-" when empty.
func cell(s string) string { return orDash(oneLine(s)) }
