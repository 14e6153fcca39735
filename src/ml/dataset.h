/* dataset.h - CSV files -> float64 feature matrices and a target, read the way
 * pandas.read_csv(path, sep=...) reads them, so a model trained here sees the numbers a notebook
 * sees.
 *
 * Format. The first non-blank record is the header. Fields follow RFC 4180 as pandas' C parser
 * reads it: a field that starts with '"' is quoted ("" is a quote, delimiters and line breaks
 * inside are data, characters after the closing quote are appended); a quote anywhere else is an
 * ordinary character. Records end at LF, CRLF or a lone CR. A UTF-8 BOM at the start is skipped.
 * Blank and whitespace-only lines are skipped. The delimiter is ',' ';' or TAB, sniffed from the
 * header line (the most frequent outside quotes; ties go to ',' then ';') unless given.
 *
 * Column names are pandas': kept verbatim (" Cz/theta" keeps its space), an empty name becomes
 * "Unnamed: <i>", duplicates become "a.1", "a.2" (skipping names already taken). Every lookup
 * (target, drop, features, columns) matches a column's exact name first, then its name trimmed of
 * surrounding blanks and quotes ("Cz/theta" finds " Cz/theta").
 *
 * Numbers. Each selected column is typed like pandas types it in one block of rows:
 *   - all tokens integers that fit int64 (or all non-negative and fit uint64): int -> double;
 *   - otherwise pandas' default float parser ("high" precision xstrtod): at most 17 significant
 *     digits (leading zeros count), scaled by a correctly rounded power of ten; so values are
 *     equal bit for bit to read_csv's, including where they differ from correctly rounded strtod;
 *   - "inf", "+inf", "-inf", "infinity" (any case) are +-Inf; the NA strings of pandas ("", "NA",
 *     "NaN", "nan", "-nan", "N/A", "NULL", "null", "#N/A", "<NA>", ...) are NaN;
 *   - a column of only True/False (pandas' bool spellings) is 1.0/0.0.
 * Anything else makes the column text, and so does pandas' integer-first rule: a column whose
 * first int64 failure is an overflow (e.g. a 20-digit integer part) and that does not then fit
 * uint64 is text. Text is an error for a feature column ("line 12, column 'pH': 'abc' is not a
 * number") and class labels for the target column (see ef_dataset.class_names).
 * Where this loader is stricter than pandas (errors here): NUL bytes; rows with more or fewer
 * fields than the header (pandas pads short rows with NaN and may turn the first column into the
 * index); a bool column with missing values. pandas types columns per block of 2^20 / n_columns
 * rows (a power of two); this loader types a column over the whole file, which can differ only
 * for integers of 16+ digits mixed with decimals in another block.
 *
 * Line numbers in messages count physical lines from 1 (the header is usually line 1); a record
 * spanning lines is named by its first line.
 *
 * Speed: one pass over a memory copy of the file, no allocation per cell; warm, in-process
 * loads measured 8.7 ms for eeg-letters-train.csv (pandas.read_csv: 30 ms) and 0.7 ms for
 * winequality-red.csv (pandas: 1.0 ms).
 */
#ifndef EF_ML_DATASET_H
#define EF_ML_DATASET_H

#include <stddef.h>

#include "ml/ml.h"

typedef struct ef_dataset_opts {
    /* 0 = sniff from the header line among ',' ';' '\t'; else the delimiter to use. */
    char delimiter;
    /* Target column name; NULL = no target (prediction data), y stays NULL. */
    const char *target;
    /* Column names to leave out (each must exist). */
    const char *const *drop;
    size_t n_drop;
    /* NULL = every column but the target and the dropped ones, in file order. Else a comma
     * separated list of column names and python-style 0-based slices over the header's columns
     * ("2:", "0:5,7", "-3:", "::2", "alcohol,pH"); features come in list order, each once; a
     * slice skips the target and dropped columns, naming one of those is an error. */
    const char *features;
    /* Alternative to `features` (wins when non-NULL): exact column names, in order, e.g. the
     * feature names a model was trained on; names may contain commas. */
    const char *const *columns;
    size_t n_columns;
    /* Refuse inputs larger than this many bytes (EF_ETOOBIG); 0 = no limit. */
    size_t max_bytes;
} ef_dataset_opts;

typedef struct ef_dataset {
    ef_mat X;             /* rows x n_features, row-major */
    double *y;            /* X.rows values; NULL when opts.target was NULL */
    char **feature_names; /* X.cols names, pandas spelling */
    char *target_name;    /* NULL when no target */
    /* Non-NULL when the target column holds text (pandas: object dtype): then y[i] is the index
     * of row i's label in class_names, the sorted (bytewise, as Python sorts str) distinct labels.
     * A target column of only True/False spellings gets the names "False" and "True". */
    char **class_names;
    size_t n_class_names;
    size_t *row_line; /* X.rows entries: the file line each row starts on (1-based) */
    size_t n_columns; /* columns in the file's header */
    char delimiter;   /* the delimiter used */
} ef_dataset;

/* Reads and parses the CSV file at `path` (opt may be NULL: defaults). On success *out owns
 * everything (free with ef_dataset_release). On failure *out is left empty and err says what is
 * wrong, prefixed with the path: EF_EIO (cannot read), EF_ETOOBIG (max_bytes), EF_EINVAL (bad
 * CSV, text in a feature column, unknown column: the message lists the columns), EF_ENOMEM. */
int ef_dataset_load(const char *path, const ef_dataset_opts *opt, ef_dataset *out, ef_ml_err *err);

/* Like ef_dataset_load on an in-memory text of len bytes (no terminating NUL needed; a NUL byte
 * anywhere is refused as "not a CSV text file"). Messages start with "line N", not a path. */
int ef_dataset_parse(const char *text, size_t len, const ef_dataset_opts *opt, ef_dataset *out,
                     ef_ml_err *err);

/* Frees what the dataset owns and zeroes it; safe on a zeroed or released dataset. */
void ef_dataset_release(ef_dataset *d);

/* Checks that every X and y value is finite. EF_EINVAL naming the first offender by file line
 * and column ("line 7, column 'pH' is NaN (empty or NA in the file): remove or impute missing
 * values first"); EF_OK otherwise. */
int ef_dataset_check_finite(const ef_dataset *d, ef_ml_err *err);

/* Prediction data: a fresh rows x n matrix (into *out, caller releases) whose column k is d's
 * feature column named names[k] (exact name, then trimmed). EF_ENOTFOUND names the first missing
 * column and lists d's; EF_ENOMEM. */
int ef_dataset_select(const ef_dataset *d, const char *const *names, size_t n, ef_mat *out,
                      ef_ml_err *err);

#endif
