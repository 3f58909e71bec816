package vote

import "reflect"

// Equal reports whether a == b. It is the comparator to pass as
// [Config.Compare] for strict equality of a comparable T.
func Equal[T comparable](a, b T) bool { return a == b }

// defaultCompare returns the comparator used when Config.Compare and
// Config.JSON are unset: == for values that hold no pointers, interfaces,
// slices, maps or funcs, and reflect.DeepEqual otherwise, so that pointers,
// slices and maps compare by what they hold (two implementations never
// return the same pointer) and an interface holding an uncomparable value
// cannot make == panic.
func defaultCompare[T any]() func(a, b T) bool {
	if plain(reflect.TypeFor[T]()) {
		return func(a, b T) bool { return any(a) == any(b) }
	}
	return func(a, b T) bool { return reflect.DeepEqual(a, b) }
}

// plain reports whether values of t compare with == by their contents.
func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !plain(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
