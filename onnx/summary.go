package onnx

import (
	"fmt"
	"sort"
	"strings"
)

// Summary is what `actswap inspect` reports about a model. Its JSON form is part of the CLI's
// contract, so the tags are fixed.
type Summary struct {
	IRVersion        int64            `json:"ir_version"`
	Producer         string           `json:"producer"` // "name version", as the exporter recorded it
	Opsets           map[string]int64 `json:"opsets"`   // domain → version; the default domain is ""
	Inputs           []ValueSummary   `json:"inputs"`   // graph inputs that are not initializers
	Outputs          []ValueSummary   `json:"outputs"`
	Nodes            int              `json:"nodes"`     // nodes of the main graph
	OpCounts         map[string]int   `json:"op_counts"` // main-graph op types; other domains as "domain:Op"
	Initializers     int              `json:"initializers"`
	InitializerBytes int64            `json:"initializer_bytes"`
	Functions        []string         `json:"functions"` // model-local functions as "domain:name"
	// Activations is left for the caller to fill (the rewrite stage lists activation sites here).
	Activations any `json:"activations,omitempty"`
}

// ValueSummary describes one graph input or output.
type ValueSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	// Shape holds an int64 per known dimension, the parameter name (string) per symbolic one and
	// nil per unknown one; a nil Shape means the rank itself is unknown.
	Shape []any `json:"shape"`
}

// Summarize collects the facts `actswap inspect` prints. It never fails: missing fields show as
// zero values.
func Summarize(m *ModelProto) Summary {
	g := m.GetGraph()
	s := Summary{
		IRVersion:    m.GetIrVersion(),
		Producer:     strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Opsets:       map[string]int64{},
		Inputs:       []ValueSummary{},
		Outputs:      []ValueSummary{},
		Nodes:        len(g.GetNode()),
		OpCounts:     map[string]int{},
		Initializers: len(g.GetInitializer()) + len(g.GetSparseInitializer()),
		Functions:    []string{},
	}
	for _, o := range m.GetOpsetImport() {
		s.Opsets[CanonicalDomain(o.GetDomain())] = o.GetVersion()
	}
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
		s.InitializerBytes += tensorBytes(t)
	}
	for _, sp := range g.GetSparseInitializer() {
		isInit[sp.GetValues().GetName()] = true
		s.InitializerBytes += tensorBytes(sp.GetValues()) + tensorBytes(sp.GetIndices())
	}
	for _, v := range g.GetInput() {
		if !isInit[v.GetName()] {
			s.Inputs = append(s.Inputs, summarizeValue(v))
		}
	}
	for _, v := range g.GetOutput() {
		s.Outputs = append(s.Outputs, summarizeValue(v))
	}
	for _, n := range g.GetNode() {
		s.OpCounts[OpKey(n.GetDomain(), n.GetOpType())]++
	}
	for _, f := range m.GetFunctions() {
		s.Functions = append(s.Functions, f.GetDomain()+":"+f.GetName())
	}
	return s
}

// OpKey names an op the way summaries and op tables do: the bare op type in the default domain,
// "domain:Op" elsewhere.
func OpKey(domain, opType string) string {
	if d := CanonicalDomain(domain); d != "" {
		return d + ":" + opType
	}
	return opType
}

// SortedOps returns the keys of op counts, most frequent first, then by name.
func SortedOps(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func summarizeValue(v *ValueInfoProto) ValueSummary {
	vs := ValueSummary{Name: v.GetName(), DType: TypeString(v.GetType())}
	var shape *TensorShapeProto
	if tt := v.GetType().GetTensorType(); tt != nil {
		shape = tt.GetShape()
	} else if st := v.GetType().GetSparseTensorType(); st != nil {
		shape = st.GetShape()
	}
	if shape != nil {
		vs.Shape = make([]any, len(shape.GetDim()))
		for i, d := range shape.GetDim() {
			switch x := d.GetValue().(type) {
			case *TensorShapeProto_Dimension_DimValue:
				vs.Shape[i] = x.DimValue
			case *TensorShapeProto_Dimension_DimParam:
				vs.Shape[i] = x.DimParam
			}
		}
	}
	return vs
}

// TypeString renders a value type: "float32" for a tensor, "sequence(float32)",
// "map(int64,float32)", "optional(...)", "sparse(float32)", or "?" when absent.
func TypeString(t *TypeProto) string {
	switch {
	case t.GetTensorType() != nil:
		return DataTypeName(t.GetTensorType().GetElemType())
	case t.GetSequenceType() != nil:
		return "sequence(" + TypeString(t.GetSequenceType().GetElemType()) + ")"
	case t.GetOptionalType() != nil:
		return "optional(" + TypeString(t.GetOptionalType().GetElemType()) + ")"
	case t.GetMapType() != nil:
		return "map(" + DataTypeName(t.GetMapType().GetKeyType()) + "," + TypeString(t.GetMapType().GetValueType()) + ")"
	case t.GetSparseTensorType() != nil:
		return "sparse(" + DataTypeName(t.GetSparseTensorType().GetElemType()) + ")"
	case t.GetOpaqueType() != nil:
		return "opaque(" + t.GetOpaqueType().GetDomain() + ":" + t.GetOpaqueType().GetName() + ")"
	}
	return "?"
}

// dataTypeNames are NumPy-style names for TensorProto.DataType values (the names the tensor
// package uses, plus the types it does not hold).
var dataTypeNames = map[TensorProto_DataType]string{
	TensorProto_FLOAT: "float32", TensorProto_UINT8: "uint8", TensorProto_INT8: "int8",
	TensorProto_UINT16: "uint16", TensorProto_INT16: "int16", TensorProto_INT32: "int32",
	TensorProto_INT64: "int64", TensorProto_STRING: "string", TensorProto_BOOL: "bool",
	TensorProto_FLOAT16: "float16", TensorProto_DOUBLE: "float64", TensorProto_UINT32: "uint32",
	TensorProto_UINT64: "uint64", TensorProto_COMPLEX64: "complex64", TensorProto_COMPLEX128: "complex128",
	TensorProto_BFLOAT16: "bfloat16", TensorProto_FLOAT8E4M3FN: "float8e4m3fn",
	TensorProto_FLOAT8E4M3FNUZ: "float8e4m3fnuz", TensorProto_FLOAT8E5M2: "float8e5m2",
	TensorProto_FLOAT8E5M2FNUZ: "float8e5m2fnuz", TensorProto_UINT4: "uint4", TensorProto_INT4: "int4",
	TensorProto_FLOAT4E2M1: "float4e2m1", TensorProto_FLOAT8E8M0: "float8e8m0",
	TensorProto_UINT2: "uint2", TensorProto_INT2: "int2",
}

// DataTypeName names a TensorProto.DataType value ("float32", "int64", …).
func DataTypeName(dt int32) string {
	if n, ok := dataTypeNames[TensorProto_DataType(dt)]; ok {
		return n
	}
	return fmt.Sprintf("dtype(%d)", dt)
}

// dataTypeBits is the storage width of one element, for counting initializer bytes.
func dataTypeBits(dt TensorProto_DataType) int64 {
	switch dt {
	case TensorProto_UINT2, TensorProto_INT2:
		return 2
	case TensorProto_UINT4, TensorProto_INT4, TensorProto_FLOAT4E2M1:
		return 4
	case TensorProto_UINT8, TensorProto_INT8, TensorProto_BOOL, TensorProto_FLOAT8E4M3FN,
		TensorProto_FLOAT8E4M3FNUZ, TensorProto_FLOAT8E5M2, TensorProto_FLOAT8E5M2FNUZ, TensorProto_FLOAT8E8M0:
		return 8
	case TensorProto_UINT16, TensorProto_INT16, TensorProto_FLOAT16, TensorProto_BFLOAT16:
		return 16
	case TensorProto_FLOAT, TensorProto_INT32, TensorProto_UINT32:
		return 32
	case TensorProto_INT64, TensorProto_UINT64, TensorProto_DOUBLE, TensorProto_COMPLEX64:
		return 64
	case TensorProto_COMPLEX128:
		return 128
	}
	return 0
}

// tensorBytes is the size of a tensor's data: raw_data or external length as stored, typed
// fields as element count × element size, strings by their byte lengths.
func tensorBytes(t *TensorProto) int64 {
	if t == nil {
		return 0
	}
	if t.RawData != nil {
		return int64(len(t.RawData))
	}
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		if ref, err := parseExternalRef(t); err == nil && ref.length >= 0 {
			return ref.length
		}
	}
	if len(t.StringData) > 0 {
		var n int64
		for _, s := range t.StringData {
			n += int64(len(s))
		}
		return n
	}
	count := int64(len(t.FloatData) + len(t.Int32Data) + len(t.Int64Data) + len(t.DoubleData) + len(t.Uint64Data))
	if TensorProto_DataType(t.GetDataType()) == TensorProto_COMPLEX64 || TensorProto_DataType(t.GetDataType()) == TensorProto_COMPLEX128 {
		count /= 2 // complex values are stored as real, imaginary pairs
	}
	return (count*dataTypeBits(TensorProto_DataType(t.GetDataType())) + 7) / 8
}
