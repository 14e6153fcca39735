# tests/unit/pg.cmake - unit test of the PostgreSQL backend (src/sql/sql_pg.c). Included from
# src/sql/CMakeLists.txt after ef_sql is defined. The test starts its own throwaway cluster with
# scripts/pg-test-cluster.sh and exits 77 (reported as skipped) only when the PostgreSQL server
# binaries are missing.
if(TARGET ef_sql AND EF_WITH_POSTGRES AND EXISTS ${CMAKE_SOURCE_DIR}/src/sql/sql_pg.c)
  ef_unit_test(test_sql_pg ef_sql)
  target_compile_definitions(test_sql_pg PRIVATE EF_SOURCE_DIR_DEFAULT="${CMAKE_SOURCE_DIR}")
  target_link_libraries(test_sql_pg PRIVATE m)
  set_tests_properties(unit.test_sql_pg PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()
