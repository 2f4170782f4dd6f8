package qdrant

import (
	"slices"
	"strings"

	pb "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkFilter rejects, before any point is looked at, a filter the stand-in cannot evaluate
// exactly as Qdrant would, so that an unsupported condition never silently matches nothing.
func checkFilter(f *pb.Filter) error {
	if f == nil {
		return nil
	}
	for _, list := range [][]*pb.Condition{f.GetMust(), f.GetShould(), f.GetMustNot(), f.GetMinShould().GetConditions()} {
		for _, c := range list {
			if err := checkCondition(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCondition(c *pb.Condition) error {
	switch cond := c.GetConditionOneOf().(type) {
	case *pb.Condition_Field:
		return checkField(cond.Field)
	case *pb.Condition_HasId:
		for _, id := range cond.HasId.GetHasId() {
			if _, _, err := pointKey(id); err != nil {
				return err
			}
		}
		return nil
	case *pb.Condition_Filter:
		return checkFilter(cond.Filter)
	case *pb.Condition_IsEmpty:
		return checkKey(cond.IsEmpty.GetKey())
	case *pb.Condition_IsNull:
		return checkKey(cond.IsNull.GetKey())
	case *pb.Condition_Nested:
		return unimplemented("nested conditions")
	case *pb.Condition_HasVector:
		return unimplemented("has_vector conditions")
	default:
		return status.Error(codes.InvalidArgument, "Wrong input: empty condition")
	}
}

func checkKey(key string) error {
	if key == "" {
		return badInput("empty payload key in a condition")
	}
	if strings.ContainsAny(key, ".[") {
		return unimplemented("nested payload keys (%q)", key)
	}
	return nil
}

func checkField(f *pb.FieldCondition) error {
	if err := checkKey(f.GetKey()); err != nil {
		return err
	}
	switch {
	case f.GetRange() != nil, f.GetGeoBoundingBox() != nil, f.GetGeoRadius() != nil, f.GetGeoPolygon() != nil,
		f.GetValuesCount() != nil, f.GetDatetimeRange() != nil, f.IsEmpty != nil, f.IsNull != nil:
		return unimplemented("field conditions other than match (key %q)", f.GetKey())
	case f.GetMatch() == nil:
		return badInput("field condition on %q has no condition", f.GetKey())
	}
	switch m := f.GetMatch().GetMatchValue().(type) {
	case *pb.Match_Keyword, *pb.Match_Keywords, *pb.Match_Integer, *pb.Match_Integers, *pb.Match_Boolean:
		return nil
	case nil:
		return badInput("match on %q has no value", f.GetKey())
	default:
		return unimplemented("match %T", m)
	}
}

// matchFilter evaluates a filter that checkFilter accepted.
func matchFilter(f *pb.Filter, p *point) bool {
	if f == nil {
		return true
	}
	for _, c := range f.GetMust() {
		if !matchCondition(c, p) {
			return false
		}
	}
	for _, c := range f.GetMustNot() {
		if matchCondition(c, p) {
			return false
		}
	}
	if should := f.GetShould(); len(should) > 0 && !slices.ContainsFunc(should, func(c *pb.Condition) bool { return matchCondition(c, p) }) {
		return false
	}
	if ms := f.GetMinShould(); ms != nil {
		n := uint64(0)
		for _, c := range ms.GetConditions() {
			if matchCondition(c, p) {
				n++
			}
		}
		if n < ms.GetMinCount() {
			return false
		}
	}
	return true
}

func matchCondition(c *pb.Condition, p *point) bool {
	switch cond := c.GetConditionOneOf().(type) {
	case *pb.Condition_Field:
		return matchField(cond.Field, p)
	case *pb.Condition_HasId:
		return slices.ContainsFunc(cond.HasId.GetHasId(), func(id *pb.PointId) bool {
			k, _, err := pointKey(id)
			return err == nil && k == p.key
		})
	case *pb.Condition_Filter:
		return matchFilter(cond.Filter, p)
	case *pb.Condition_IsEmpty:
		v, ok := p.payload[cond.IsEmpty.GetKey()]
		if !ok {
			return true
		}
		switch k := v.GetKind().(type) {
		case *pb.Value_NullValue:
			return true
		case *pb.Value_ListValue:
			return len(k.ListValue.GetValues()) == 0
		}
		return false
	case *pb.Condition_IsNull:
		v, ok := p.payload[cond.IsNull.GetKey()]
		_, null := v.GetKind().(*pb.Value_NullValue)
		return ok && null
	}
	return false
}

// values are the payload values at key: the elements of an array, or the value itself.
func values(p *point, key string) []*pb.Value {
	v, ok := p.payload[key]
	if !ok {
		return nil
	}
	if l, ok := v.GetKind().(*pb.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	return []*pb.Value{v}
}

func matchField(f *pb.FieldCondition, p *point) bool {
	vals := values(p, f.GetKey())
	return slices.ContainsFunc(vals, func(v *pb.Value) bool {
		switch m := f.GetMatch().GetMatchValue().(type) {
		case *pb.Match_Keyword:
			s, ok := v.GetKind().(*pb.Value_StringValue)
			return ok && s.StringValue == m.Keyword
		case *pb.Match_Keywords:
			s, ok := v.GetKind().(*pb.Value_StringValue)
			return ok && slices.Contains(m.Keywords.GetStrings(), s.StringValue)
		case *pb.Match_Integer:
			i, ok := v.GetKind().(*pb.Value_IntegerValue)
			return ok && i.IntegerValue == m.Integer
		case *pb.Match_Integers:
			i, ok := v.GetKind().(*pb.Value_IntegerValue)
			return ok && slices.Contains(m.Integers.GetIntegers(), i.IntegerValue)
		case *pb.Match_Boolean:
			b, ok := v.GetKind().(*pb.Value_BoolValue)
			return ok && b.BoolValue == m.Boolean
		}
		return false
	})
}
