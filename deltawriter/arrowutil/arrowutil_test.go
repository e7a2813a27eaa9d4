package arrowutil

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestTakeRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	ints := array.NewInt64Builder(mem)
	ints.AppendValues([]int64{10, 11, 12, 13, 14}, []bool{true, true, false, true, true})
	intArr := ints.NewArray()
	defer intArr.Release()
	mb := array.NewMapBuilder(mem, arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32, false)
	for i := 0; i < 5; i++ {
		mb.Append(true)
		for j := 0; j <= i%2; j++ {
			mb.KeyBuilder().(*array.StringBuilder).Append(string(rune('a' + j)))
			mb.ItemBuilder().(*array.Int32Builder).Append(int32(i*10 + j))
		}
	}
	mapArr := mb.NewArray()
	defer mapArr.Release()

	for _, tc := range []struct {
		name string
		arr  arrow.Array
		rows []int64
		want string
	}{
		{"ints, gaps and a null", intArr, []int64{0, 2, 3}, "[10 (null) 13]"},
		{"ints, none", intArr, nil, "[]"},
		{"map (no take kernel), runs", mapArr, []int64{1, 2, 4}, `[{["a" "b"] [10 11]} {["a"] [20]} {["a"] [40]}]`},
		{"map, none", mapArr, []int64{}, "[]"},
	} {
		got, err := TakeRows(context.Background(), tc.arr, tc.rows)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.String() != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
		got.Release()
	}
	if !HasMap(arrow.StructOf(arrow.Field{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)})) || HasMap(arrow.PrimitiveTypes.Int64) {
		t.Error("HasMap")
	}
}
