/* empty.c - keeps libwardtest.a non-empty when tests/common has no files. */
typedef int ward_empty_translation_unit;
