# The real-data panel's raw tables, from R packages that Debian ships (r-cran-modeldata,
# r-cran-caret): written as CSV into the folder given as the first argument. Nothing is
# downloaded at run time; `benches/panel.py` turns each table into a CRM-shaped export.
#
#   Rscript benches/panel/datasets.R target/panel/raw
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) > 0) args[1] else "target/panel/raw"
dir.create(out, recursive = TRUE, showWarnings = FALSE)
write <- function(df, name) {
  write.csv(as.data.frame(df), file.path(out, paste0(name, ".csv")), row.names = FALSE, na = "")
  cat(name, nrow(df), "rows", ncol(df), "columns\n")
}
data("GermanCredit", package = "caret")
write(GermanCredit, "german_credit")
data("lending_club", package = "modeldata")
write(lending_club, "lending_club")
data("mlc_churn", package = "modeldata")
write(mlc_churn, "mlc_churn")
data("credit_data", package = "modeldata")
write(credit_data, "credit_data")
