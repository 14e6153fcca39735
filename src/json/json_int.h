/* json_int.h - internals of the json module shared with its unit test (not a public API). */
#ifndef EF_JSON_JSON_INT_H
#define EF_JSON_JSON_INT_H

/* The shortest decimal digits that read back as v (v > 0 and finite), the closest to v among
 * equally short ones: digits[] gets them without a dot, NUL-terminated, no trailing zeros
 * (digits must hold 40 bytes); *e is the decimal exponent of the first digit
 * (v ~= d.ddd * 10^e). Returns the digit count (1..17). fast = 0 skips the exact-arithmetic
 * shortcut, so a test can compare both paths. */
int json__shortest_digits(double v, int fast, char *digits, int *e);

#endif
