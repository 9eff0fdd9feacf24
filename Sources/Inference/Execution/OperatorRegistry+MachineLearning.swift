extension OperatorRegistry {
    /// The `ai.onnx.ml` operators scikit-learn (skl2onnx), LightGBM and XGBoost (onnxmltools) export: tree
    /// ensembles, linear models, SVMs and the preprocessing steps of a pipeline. ZipMap is refused at load with the
    /// exporter option that removes it.
    mutating func registerMachineLearningOperators() {
        let ml = Self.mlDomain
        register("TreeEnsembleRegressor", domain: ml, TreeEnsembleRegressorKernel.init)
        register("TreeEnsembleClassifier", domain: ml, TreeEnsembleClassifierKernel.init)
        register("TreeEnsemble", domain: ml) { node in
            guard node.opsetVersion >= 5 else {
                throw InferenceError.invalidModel("\(node.label): TreeEnsemble needs ai.onnx.ml opset 5, the model imports \(node.opsetVersion)")
            }
            return try TreeEnsembleKernel(node)
        }
        register("LinearRegressor", domain: ml, LinearRegressorKernel.init)
        register("LinearClassifier", domain: ml, LinearClassifierKernel.init)
        register("SVMRegressor", domain: ml, SVMRegressorKernel.init)
        register("SVMClassifier", domain: ml, SVMClassifierKernel.init)
        register("Scaler", domain: ml, ScalerKernel.init)
        register("Normalizer", domain: ml, NormalizerKernel.init)
        register("Binarizer", domain: ml, BinarizerKernel.init)
        register("Imputer", domain: ml, ImputerKernel.init)
        register("OneHotEncoder", domain: ml, OneHotEncoderKernel.init)
        register("LabelEncoder", domain: ml, LabelEncoderKernel.init)
        register("CategoryMapper", domain: ml, CategoryMapperKernel.init)
        register("ArrayFeatureExtractor", domain: ml, ArrayFeatureExtractorKernel.init)
        register("FeatureVectorizer", domain: ml, FeatureVectorizerKernel.init)
        register("ZipMap", domain: ml) { node in
            throw InferenceError.unsupported([
                "\(node.label): ZipMap turns class scores into a list of maps, which ZServe does not serve; export "
                    + "the scores as a tensor instead: skl2onnx `to_onnx(model, X, options={'zipmap': False})` "
                    + "(or `convert_sklearn(..., options={id(model): {'zipmap': False}})`), onnxmltools "
                    + "`convert_lightgbm(..., zipmap=False)`",
            ])
        }
    }
}
